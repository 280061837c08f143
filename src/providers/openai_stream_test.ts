import { assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { relayOpenAIStream } from "./openai_stream.ts";

const encoder = new TextEncoder();

function upstream(parts: string[], failAtEnd = false): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream({
    pull(controller) {
      if (index < parts.length) return controller.enqueue(encoder.encode(parts[index++]));
      if (failAtEnd) return controller.error(new TypeError("connection reset"));
      controller.close();
    },
  });
}

const content = 'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n';
const finish = 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n';
const usage =
  'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n';
const done = "data: [DONE]\n\n";

Deno.test("events reach the client byte for byte, usage and finish reason are seen", async () => {
  const relay = relayOpenAIStream(
    upstream([content, finish.slice(0, 10), finish.slice(10), usage, done]),
    {
      clientWantsUsage: true,
      signal: new AbortController().signal,
    },
  );
  assertEquals(await new Response(relay.body).text(), content + finish + usage + done);
  assertEquals(await relay.outcome, {
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    finishReason: "stop",
    producedChars: 2,
  });
});

Deno.test("the usage chunk the gateway asked for is dropped when the client did not", async () => {
  const relay = relayOpenAIStream(upstream([content, finish, usage, done]), {
    clientWantsUsage: false,
    signal: new AbortController().signal,
  });
  assertEquals(await new Response(relay.body).text(), content + finish + done);
  assertEquals((await relay.outcome).usage?.total_tokens, 4);
});

Deno.test("a stream that breaks off ends with an OpenAI error event", async () => {
  const relay = relayOpenAIStream(upstream([content], true), {
    clientWantsUsage: false,
    signal: new AbortController().signal,
  });
  const text = await new Response(relay.body).text();
  assertStringIncludes(text, content);
  assertStringIncludes(text, '"code":"upstream_connect"');
  assertEquals((await relay.outcome).error, "connect");
});

Deno.test("a client that cancels cancels the upstream", async () => {
  let canceled = false;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(encoder.encode(content));
    },
    cancel() {
      canceled = true;
    },
  });
  const relay = relayOpenAIStream(source, {
    clientWantsUsage: false,
    signal: new AbortController().signal,
  });
  const reader = relay.body.getReader();
  await reader.read();
  await reader.cancel();
  assertEquals(canceled, true);
  const outcome = await relay.outcome;
  assertEquals(outcome.error, "canceled");
  assertEquals(outcome.usage, undefined);
  assertEquals(outcome.producedChars, 2, "what went out before the cancel is counted");
});
