import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import type { ChatCompletionRequest } from "../core/mod.ts";
import { AnthropicProvider } from "./anthropic.ts";
import { UpstreamError } from "./errors.ts";
import { serve, type TestServer } from "./_http1_testing.ts";

const API_KEY = "sk-ant-api03-secret-test-key";
const encoder = new TextEncoder();

const request: ChatCompletionRequest = {
  model: "claude-sonnet",
  messages: [{ role: "user", content: "Hi" }],
};

const streamRequest: ChatCompletionRequest = { ...request, stream: true };

function call(signal = new AbortController().signal) {
  return {
    signal,
    traceId: "trace-anthropic-1",
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    upstreamModel: "claude-sonnet-4-5-20250929",
  };
}

function providerFor(server: TestServer, options: { anthropicVersion?: string } = {}) {
  return new AnthropicProvider({
    baseUrl: server.url("/"),
    apiKey: API_KEY,
    defaultMaxTokens: 512,
    ...options,
  });
}

const ANSWER = {
  id: "msg_01",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-5-20250929",
  content: [{ type: "text", text: "Hello" }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 8, output_tokens: 2 },
};

function event(data: Record<string, unknown>): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

const MESSAGE_START = event({
  type: "message_start",
  message: {
    id: "msg_stream",
    type: "message",
    role: "assistant",
    content: [],
    model: "claude-sonnet-4-5-20250929",
    stop_reason: null,
    usage: { input_tokens: 9, output_tokens: 1 },
  },
});
const BLOCK_START = event({
  type: "content_block_start",
  index: 0,
  content_block: { type: "text", text: "" },
});
const textDelta = (text: string) =>
  event({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } });
const ENDING = event({ type: "content_block_stop", index: 0 }) +
  event({
    type: "message_delta",
    delta: { stop_reason: "end_turn" },
    usage: { output_tokens: 3 },
  }) +
  event({ type: "message_stop" });

/** Rejects with `message` unless `promise` settles within ten seconds. */
async function within<T>(promise: Promise<T>, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${message}`)), 10_000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sse(body: ReadableStream<Uint8Array> | string): Response {
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

Deno.test("Anthropic gets its key, version and the trace, never a bearer token", async () => {
  const seen: Array<{ method: string; path: string; headers: Headers; body: unknown }> = [];
  await using server = serve(async (upstreamRequest) => {
    const { method, headers } = upstreamRequest;
    const path = new URL(upstreamRequest.url).pathname;
    seen.push({ method, path, headers, body: await upstreamRequest.json() });
    return Response.json(ANSWER);
  });
  const provider = providerFor(server);
  const result = await provider.chatCompletion(request, call());
  assert(result.kind === "json");
  assertEquals(result.body.choices[0].message.content, "Hello");
  const { method, path, headers, body } = seen[0];
  assertEquals([method, path], ["POST", "/v1/messages"]);
  assertEquals(headers.get("x-api-key"), API_KEY);
  assertEquals(headers.get("anthropic-version"), "2023-06-01");
  assertEquals(headers.get("content-type"), "application/json");
  assertEquals(headers.get("x-trace-id"), "trace-anthropic-1");
  assertEquals(headers.get("traceparent"), call().traceparent);
  assertEquals(headers.get("authorization"), null);
  assertEquals(body, {
    model: "claude-sonnet-4-5-20250929",
    max_tokens: 512,
    messages: [{ role: "user", content: "Hi" }],
  });

  await providerFor(server, { anthropicVersion: "2024-01-01" }).chatCompletion(request, call());
  assertEquals(seen[1].headers.get("anthropic-version"), "2024-01-01");
});

Deno.test("Anthropic's failures are classified as the OpenAI provider classifies them", async () => {
  const cases: Array<[number, string, string]> = [
    [401, "authentication_error", "auth"],
    [403, "permission_error", "auth"],
    [429, "rate_limit_error", "rate_limited"],
    [529, "overloaded_error", "server_error"],
    [500, "api_error", "server_error"],
    [400, "invalid_request_error", "client_error"],
  ];
  for (const [status, type, errorClass] of cases) {
    await using server = serve(() =>
      Response.json(
        { type: "error", error: { type, message: `fake ${type} for key ${API_KEY}` } },
        { status, headers: { "retry-after": "7" } },
      )
    );
    const error = await assertRejects(() => providerFor(server).chatCompletion(request, call()));
    assert(error instanceof UpstreamError);
    assertEquals([error.errorClass, error.status], [errorClass, status]);
    assertEquals(error.retryAfterSeconds, 7);
    assert(!error.message.includes(API_KEY), "the upstream key never reaches a message");
    if (errorClass === "client_error") {
      assertEquals(error.message, "fake invalid_request_error for key [REDACTED]");
    } else {
      assertEquals(error.message, `The upstream answered with status ${status}`);
    }
  }
});

Deno.test("an answer that is not JSON, or no stream when one was asked, is an invalid_response", async () => {
  await using server = serve(async (upstreamRequest) =>
    (await upstreamRequest.json()).stream ? Response.json(ANSWER) : new Response("{not json")
  );
  const provider = providerFor(server);
  const invalid = await assertRejects(() => provider.chatCompletion(request, call()));
  assertEquals((invalid as UpstreamError).errorClass, "invalid_response");
  const noStream = await assertRejects(() => provider.chatCompletion(streamRequest, call()));
  assertEquals((noStream as UpstreamError).errorClass, "invalid_response");
});

Deno.test("a connection refused is a connect error", async () => {
  const server = serve(() => Response.json(ANSWER));
  const provider = providerFor(server);
  await server[Symbol.asyncDispose]();
  const error = await assertRejects(() => provider.chatCompletion(request, call()));
  assertEquals((error as UpstreamError).errorClass, "connect");
});

Deno.test("the first translated chunk reaches the client before Anthropic sends the rest", async () => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  await using server = serve(() =>
    sse(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode(MESSAGE_START + BLOCK_START + textDelta("Hel")));
          await released;
          controller.enqueue(encoder.encode(textDelta("lo") + ENDING));
          controller.close();
        },
      }),
    )
  );
  const result = await providerFor(server).chatCompletion(streamRequest, call());
  assert(result.kind === "stream");
  const reader = result.body.pipeThrough(new TextDecoderStream()).getReader();
  let early = "";
  try {
    for (let reads = 0; reads < 10 && !early.includes('"Hel"'); reads++) {
      const { value, done } = await within(reader.read(), "the first chunks arrive unbuffered");
      if (done) break;
      early += value;
    }
  } finally {
    // Released in any case, so that a failing test does not leave the server waiting.
    release();
  }
  assertStringIncludes(early, '"content":"Hel"');
  assert(!early.includes('"lo"'), "the rest was not sent before the release");
  let rest = "";
  for (let reads = 0; reads < 20; reads++) {
    const { value, done } = await within(reader.read(), "the rest of the stream arrives");
    if (done) break;
    rest += value;
  }
  assertStringIncludes(rest, '"content":"lo"');
  assert(rest.endsWith("data: [DONE]\n\n"));
  assertEquals(await result.outcome, {
    usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
    finishReason: "stop",
    producedChars: 5,
  });
});

Deno.test("a client that cancels the stream cancels Anthropic's response", async () => {
  let upstreamCanceled: () => void = () => {};
  const canceled = new Promise<void>((resolve) => upstreamCanceled = resolve);
  await using server = serve(() => {
    let sent = 0;
    return sse(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          // Bounded: the test cancels long before the last of these.
          if (sent++ > 10_000) return controller.close();
          const text = sent === 1 ? MESSAGE_START + BLOCK_START : textDelta("word ");
          controller.enqueue(encoder.encode(text));
          await new Promise((resolve) => setTimeout(resolve, 5));
        },
        cancel() {
          upstreamCanceled();
        },
      }),
    );
  });
  const result = await providerFor(server).chatCompletion(streamRequest, call());
  assert(result.kind === "stream");
  const reader = result.body.getReader();
  await within(reader.read(), "the first chunk");
  await within(reader.read(), "the second chunk");
  await reader.cancel();
  await within(canceled, "Anthropic's response is canceled");
  const outcome = await result.outcome;
  assertEquals(outcome.error, "canceled");
  assertEquals(outcome.usage, undefined);
  assert(outcome.producedChars >= 5, "what went out before the cancel is counted");
});

Deno.test("a passed deadline mid-stream is a timeout told in-band", async () => {
  await using server = serve(() =>
    sse(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(MESSAGE_START + BLOCK_START + textDelta("Hi")));
        },
      }),
    )
  );
  const deadline = new AbortController();
  const result = await providerFor(server).chatCompletion(streamRequest, call(deadline.signal));
  assert(result.kind === "stream");
  const reader = result.body.pipeThrough(new TextDecoderStream()).getReader();
  await within(reader.read(), "the first chunk");
  deadline.abort(new DOMException("late", "TimeoutError"));
  let text = "";
  for (let reads = 0; reads < 10; reads++) {
    const { value, done } = await within(reader.read(), "the stream ends");
    if (done) break;
    text += value;
  }
  assertStringIncludes(text, '"code":"upstream_timeout"');
  assertEquals((await result.outcome).error, "timeout");
});

Deno.test("a stream cut off by the upstream is a connect error, told in-band", async () => {
  await using server = serve(() =>
    sse(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(MESSAGE_START + BLOCK_START + textDelta("Hi")));
          setTimeout(() => controller.error(new Error("connection reset")), 20);
        },
      }),
    )
  );
  const result = await providerFor(server).chatCompletion(streamRequest, call());
  assert(result.kind === "stream");
  const text = await within(new Response(result.body).text(), "the stream ends");
  assertStringIncludes(text, '"content":"Hi"');
  assertStringIncludes(text, '"code":"upstream_connect"');
  assert(!text.includes("[DONE]"));
  assertEquals(await result.outcome, { producedChars: 2, error: "connect" });
});

Deno.test("a stream that ends before message_stop is an invalid_response", async () => {
  await using server = serve(() => sse(MESSAGE_START + BLOCK_START + textDelta("Hi")));
  const result = await providerFor(server).chatCompletion(streamRequest, call());
  assert(result.kind === "stream");
  const text = await within(new Response(result.body).text(), "the stream ends");
  assertStringIncludes(text, '"code":"upstream_invalid_response"');
  assertEquals((await result.outcome).error, "invalid_response");
});

Deno.test("Anthropic's models are listed page by page in OpenAI's shape", async () => {
  const queries: string[] = [];
  await using server = serve((upstreamRequest) => {
    const url = new URL(upstreamRequest.url);
    queries.push(url.search);
    assertEquals(url.pathname, "/v1/models");
    assertEquals(upstreamRequest.headers.get("x-api-key"), API_KEY);
    const after = url.searchParams.get("after_id");
    const model = after
      ? { id: "claude-haiku-4-5-20251001", created_at: "2025-10-01T00:00:00Z" }
      : { id: "claude-sonnet-4-5-20250929", created_at: "2025-09-29T00:00:00Z" };
    return Response.json({
      data: [{ type: "model", display_name: "Claude", ...model }],
      has_more: !after,
      first_id: model.id,
      last_id: model.id,
    });
  });
  const models = await providerFor(server).listModels(new AbortController().signal);
  assertEquals(models, [
    {
      id: "claude-sonnet-4-5-20250929",
      object: "model",
      created: 1759104000,
      owned_by: "anthropic",
    },
    {
      id: "claude-haiku-4-5-20251001",
      object: "model",
      created: 1759276800,
      owned_by: "anthropic",
    },
  ]);
  assertEquals(queries, ["?limit=1000", "?limit=1000&after_id=claude-sonnet-4-5-20250929"]);
});

Deno.test("a default max_tokens that is not a positive integer stops the construction", () => {
  for (const defaultMaxTokens of [0, -1, 1.5, Number.NaN]) {
    let error: unknown;
    try {
      new AnthropicProvider({ apiKey: API_KEY, defaultMaxTokens });
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof RangeError, String(defaultMaxTokens));
    assertStringIncludes(error.message, "'defaultMaxTokens' must be a positive integer");
  }
});

Deno.test("a client that goes away mid-stream aborts the call: the stream is canceled", async () => {
  let upstreamCanceled: () => void = () => {};
  const canceled = new Promise<void>((resolve) => upstreamCanceled = resolve);
  await using server = serve(() =>
    sse(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(MESSAGE_START + BLOCK_START + textDelta("Hi")));
        },
        cancel() {
          upstreamCanceled();
        },
      }),
    )
  );
  const client = new AbortController();
  const result = await providerFor(server).chatCompletion(streamRequest, call(client.signal));
  assert(result.kind === "stream");
  const reader = result.body.getReader();
  await within(reader.read(), "the first chunk");
  client.abort();
  await assertRejects(() => within(drain(reader), "the stream fails"));
  await within(canceled, "Anthropic's response is canceled");
  assertEquals((await result.outcome).error, "canceled");
});

Deno.test("an event that is not JSON ends the stream as an invalid_response", async () => {
  await using server = serve(() => sse(MESSAGE_START + "event: ping\ndata: {oops\n\n" + ENDING));
  const result = await providerFor(server).chatCompletion(streamRequest, call());
  assert(result.kind === "stream");
  const text = await within(new Response(result.body).text(), "the stream ends");
  assertStringIncludes(text, '"role":"assistant"');
  assertStringIncludes(text, '"code":"upstream_invalid_response"');
  assert(!text.includes("[DONE]"));
  assertEquals(await result.outcome, { producedChars: 0, error: "invalid_response" });
});

/** Reads a stream to its end, a bounded number of reads. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  for (let reads = 0; reads < 100; reads++) {
    if ((await reader.read()).done) return;
  }
  throw new Error("the stream did not end within 100 reads");
}
