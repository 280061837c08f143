import { assertEquals } from "../../tests/assert.ts";
import { SseSplitter } from "./sse.ts";

Deno.test("events split across chunks come out whole and byte-exact", () => {
  const splitter = new SseSplitter();
  const text = 'data: {"a":1}\n\n: comment\ndata: x\ndata: y\n\ndata: [DONE]\n\n';
  const events = [];
  for (const char of text) events.push(...splitter.push(char));
  assertEquals(events.map((e) => e.data), ['{"a":1}', "x\ny", "[DONE]"]);
  assertEquals(events.map((e) => e.raw).join(""), text);
  assertEquals(splitter.pending, "");
});

Deno.test("CRLF and CR line endings end events too", () => {
  const splitter = new SseSplitter();
  assertEquals(splitter.push("data: a\r\n\r").map((e) => e.data), []);
  assertEquals(splitter.push("\ndata: b\r\rdata:c\n\n").map((e) => e.data), ["a", "b", "c"]);
});

Deno.test("an incomplete event waits for its blank line", () => {
  const splitter = new SseSplitter();
  assertEquals(splitter.push("event: x\ndata: 1\n"), []);
  assertEquals(splitter.pending, "event: x\ndata: 1\n");
  assertEquals(splitter.push("\n").map((e) => e.data), ["1"]);
});

Deno.test("fields other than data are ignored but kept in the raw text", () => {
  const splitter = new SseSplitter();
  const [event] = splitter.push("id: 7\nretry: 10\ndatax: no\n\n");
  assertEquals(event.data, undefined);
  assertEquals(event.raw, "id: 7\nretry: 10\ndatax: no\n\n");
});
