import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { decodeAnswer, encodeAnswer, type RecordedAnswer } from "./answer.ts";

Deno.test("a recorded answer reads back with its status, headers and every byte of its body", () => {
  const answer: RecordedAnswer = {
    status: 201,
    headers: [["content-type", "text/event-stream; charset=utf-8"], ["x-ratelimit-limit", "9"]],
    body: Uint8Array.from({ length: 300 }, (_, i) => i % 256),
    model: "gpt-4o",
    provider: "openai",
    deployment: "openai-east",
  };
  const decoded = decodeAnswer(encodeAnswer(answer));
  assertEquals({ ...decoded, body: [...decoded.body] }, { ...answer, body: [...answer.body] });
});

Deno.test("a body holding newlines and no model or provider reads back whole", () => {
  const body = new TextEncoder().encode("data: {}\n\ndata: [DONE]\n\n");
  const decoded = decodeAnswer(encodeAnswer({ status: 200, headers: [], body }));
  assertEquals(new TextDecoder().decode(decoded.body), "data: {}\n\ndata: [DONE]\n\n");
  assertEquals([decoded.model, decoded.provider], [undefined, undefined]);
});

Deno.test("bytes that are not a recorded answer are refused", () => {
  const text = (value: string) => new TextEncoder().encode(value);
  assertThrows(() => decodeAnswer(text("no head line")));
  assertThrows(() => decodeAnswer(text('{"status":"200","headers":[]}\nbody')));
  assertThrows(() => decodeAnswer(text('{"status":200,"headers":[["a"]]}\nbody')));
  assertThrows(() => decodeAnswer(text("not json\nbody")));
  assertThrows(() => decodeAnswer(text('{"status":200,"headers":[],"deployment":7}\nbody')));
});
