import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { BodyDecoder } from "./_http1_body.ts";
import type { ByteQueue } from "./_http1_conn.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Feeds `parts` one after the other, as reads would, and collects what the decoder yields. */
function decodeAll(body: BodyDecoder, parts: string[]): { text: string; left: string } {
  const queue: ByteQueue = { buf: new Uint8Array(0), start: 0, end: 0 };
  let text = "";
  for (const part of parts) {
    const rest = queue.buf.subarray(queue.start, queue.end);
    queue.buf = new Uint8Array([...rest, ...encoder.encode(part)]);
    queue.start = 0;
    queue.end = queue.buf.length;
    const chunk = body.decode(queue);
    if (chunk) text += decoder.decode(chunk);
  }
  return { text, left: decoder.decode(queue.buf.subarray(queue.start, queue.end)) };
}

const chunked = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-t: 1\r\n\r\n";

Deno.test("a chunked body decodes the same however its bytes are split", () => {
  for (let cut = 0; cut <= chunked.length; cut++) {
    const body = BodyDecoder.chunked();
    const result = decodeAll(body, [chunked.slice(0, cut), chunked.slice(cut), "NEXT"]);
    assertEquals(result, { text: "Wikipedia in\r\n\r\nchunks.", left: "NEXT" }, `cut at ${cut}`);
    assert(body.done);
  }
});

Deno.test("a length body stops at its length and leaves what follows", () => {
  const body = BodyDecoder.ofLength(5);
  assertEquals(decodeAll(body, ["he", "llo HTTP"]), { text: "hello", left: " HTTP" });
  assert(body.done);
  assert(BodyDecoder.ofLength(0).done);
  assertEquals(BodyDecoder.ofLength(5).endOfStream(), false);
});

Deno.test("a body read until close ends only with the connection", () => {
  const body = BodyDecoder.untilClose();
  assertEquals(decodeAll(body, ["a", "b"]).text, "ab");
  assert(!body.done);
  assert(body.endOfStream());
  assert(body.done);
});

Deno.test("malformed chunked framing is a TypeError", () => {
  const cases = ["zz\r\n", "\r\n", "5\r\nhelloXX", "1\nx\r\n", "1234567890abc\r\n", "5 x\r\n"];
  for (const input of cases) {
    const error = assertThrows(() => decodeAll(BodyDecoder.chunked(), [input]));
    assert(error instanceof TypeError, JSON.stringify(input));
  }
  const longLine = assertThrows(() => decodeAll(BodyDecoder.chunked(), ["1".repeat(5000)]));
  assert(longLine instanceof TypeError);
});
