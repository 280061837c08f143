import { assertEquals } from "../../tests/assert.ts";
import { watchTerminalEvent } from "./native_stream.ts";

const EVENTS = [
  'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1"}}\n\n',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,"delta":"Hé"}\n\n',
  'event: response.completed\ndata: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_1","status":"completed"}}\n\n',
];

Deno.test("a native stream passes byte for byte; its terminal event waits until the response is kept", async () => {
  const order: string[] = [];
  const bytes = new TextEncoder().encode(EVENTS.join(""));
  // Cut through the middle of events and of the two-byte character.
  const pieces = [bytes.slice(0, 10), bytes.slice(10, 150), bytes.slice(150)];
  const reader = ReadableStream.from(pieces).pipeThrough(watchTerminalEvent(async (response) => {
    await Promise.resolve();
    order.push(`kept ${response.id}`);
  })).getReader();
  let received = "";
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    if (text.includes("response.completed")) order.push("completed sent");
    received += text;
  }
  assertEquals(received, EVENTS.join(""));
  assertEquals(order, ["kept resp_1", "completed sent"]);
});
