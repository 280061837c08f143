/**
 * End-to-end tests of the external API: the real gateway program, started as a subprocess, in
 * mock mode and in front of a fake OpenAI-compatible upstream, driven over HTTP and through the
 * official OpenAI SDK.
 */
import OpenAI from "openai";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "./assert.ts";
import { type FakeUpstream, startFakeUpstream } from "./fake_upstream.ts";
import {
  createTenantWithKey,
  delay,
  type GatewayProcess,
  startGateway,
} from "./gateway_process.ts";

const ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef";
const UPSTREAM_KEY = "sk-proj-e2eUpstreamSecret0123456789";
const MOCK_MODELS = "mock-small,mock-large";
const HELLO = [{ role: "user", content: "Hello there" }];

/** Environment of a gateway in mock mode. */
function mockEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ADMIN_TOKEN, MOCK_MODELS, ...extra };
}

/** Environment of a gateway in front of `upstream`. */
function upstreamEnv(
  upstream: { url: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return { ADMIN_TOKEN, OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: UPSTREAM_KEY, ...extra };
}

/** POSTs a chat completion request with the client's key. */
function chat(
  gw: GatewayProcess,
  key: string | undefined,
  body: unknown,
  init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json", ...init.headers };
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: init.signal,
  });
}

/** The `data` fields of a whole SSE text, in order. */
function sseData(text: string): string[] {
  return text.split(/\r\n\r\n|\n\n|\r\r/).flatMap((block) => {
    const lines = block.split(/\r\n|\n|\r/).filter((line) => line.startsWith("data:"));
    if (lines.length === 0) return [];
    return [lines.map((line) => line.slice(5).replace(/^ /, "")).join("\n")];
  });
}

interface Chunk {
  object: string;
  model: string;
  choices: Array<{ delta: { content?: string | null }; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

/** Reads a whole SSE response: its JSON chunks and whether it ended with `[DONE]`. */
async function readStream(response: Response): Promise<{ chunks: Chunk[]; done: boolean }> {
  assertEquals(response.status, 200);
  assertStringIncludes(response.headers.get("content-type") ?? "", "text/event-stream");
  const data = sseData(await response.text());
  const done = data.at(-1) === "[DONE]";
  const chunks = data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d) as Chunk);
  return { chunks, done };
}

/** The JSON chunks among the `data` fields of an SSE text received so far. */
function chunksIn(text: string): Chunk[] {
  return sseData(text).filter((d) => d.startsWith("{")).map((d) => JSON.parse(d) as Chunk);
}

function contentOf(chunks: Chunk[]): string {
  return chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content ?? "")).join("");
}

function usageChunks(chunks: Chunk[]): Chunk[] {
  return chunks.filter((c) => c.choices.length === 0 && c.usage);
}

/**
 * Reads an error response and checks it has OpenAI's error body, the expected status and code,
 * a request id, and neither a secret nor a stack trace.
 */
async function expectError(
  response: Response,
  expected: { status: number; code?: string; type?: string },
  secrets: string[],
): Promise<{ message: string; type: string; code: string | null }> {
  const text = await response.text();
  assertEquals(response.status, expected.status, `unexpected status; body: ${text}`);
  assertStringIncludes(response.headers.get("content-type") ?? "", "application/json");
  assert(response.headers.get("x-request-id"), "an error answer carries X-Request-Id");
  const body = JSON.parse(text);
  const error = body.error;
  assert(error && typeof error === "object", `no error object in ${text}`);
  assert(typeof error.message === "string" && error.message.length > 0, text);
  assert(typeof error.type === "string" && error.type.length > 0, text);
  assert("code" in error, `no code in ${text}`);
  if (expected.code !== undefined) assertEquals(error.code, expected.code, text);
  if (expected.type !== undefined) assertEquals(error.type, expected.type, text);
  for (const secret of secrets) {
    assert(!text.includes(secret), `the error body holds a secret: ${text}`);
  }
  assert(!/\bat .*\.(ts|js):\d+/.test(text) && !/\n\s+at /.test(text), `stack trace in ${text}`);
  return error;
}

/** Checks that nothing the gateway wrote, to stdout or stderr, holds one of `secrets`. */
function assertNoSecretsLogged(gw: GatewayProcess, secrets: string[]): void {
  const output = [...gw.stdout(), gw.stderr()];
  for (const secret of secrets) {
    const line = output.find((text) => text.includes(secret));
    assert(line === undefined, `a log line holds a secret: ${line}`);
  }
}

/** Waits for the `request_completed` line of `traceId`, so that every line of it is written. */
function requestCompleted(gw: GatewayProcess, traceId: string): Promise<Record<string, unknown>> {
  return gw.waitForRecord((r) => r.message === "request_completed" && r.trace_id === traceId);
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await delay(20);
  }
  return condition();
}

function chatRequests(upstream: FakeUpstream) {
  return upstream.received.filter((r) => r.path === "/v1/chat/completions");
}

Deno.test("mock mode answers chat completions, streams and the model list in OpenAI's format", async () => {
  await using gw = await startGateway({ env: mockEnv() });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);

  const response = await chat(gw, key, { model: "mock-small", messages: HELLO });
  assertEquals(response.status, 200);
  assertStringIncludes(response.headers.get("content-type") ?? "", "application/json");
  assertMatch(response.headers.get("x-request-id") ?? "", /^req-[0-9a-f]+$/);
  const completion = await response.json();
  assertEquals(completion.object, "chat.completion");
  assertEquals(completion.model, "mock-small");
  assert(typeof completion.id === "string" && completion.id.length > 0);
  assert(Number.isInteger(completion.created));
  assertEquals(completion.choices.length, 1);
  assertEquals(completion.choices[0].index, 0);
  assertEquals(completion.choices[0].message.role, "assistant");
  assertStringIncludes(completion.choices[0].message.content, "Hello there");
  assertEquals(completion.choices[0].finish_reason, "stop");
  const usage = completion.usage;
  assert(usage.prompt_tokens > 0 && usage.completion_tokens > 0, JSON.stringify(usage));
  assertEquals(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);

  const plain = await readStream(
    await chat(gw, key, { model: "mock-small", messages: HELLO, stream: true }),
  );
  assert(plain.done, "the stream ends with data: [DONE]");
  assert(plain.chunks.length >= 3, `only ${plain.chunks.length} chunks`);
  for (const chunk of plain.chunks) {
    assertEquals(chunk.object, "chat.completion.chunk");
    assertEquals(chunk.model, "mock-small");
  }
  assertEquals(contentOf(plain.chunks), completion.choices[0].message.content);
  assertEquals(plain.chunks.at(-1)?.choices[0].finish_reason, "stop");
  assertEquals(usageChunks(plain.chunks), [], "no usage chunk unless asked for");

  const withUsage = await readStream(
    await chat(gw, key, {
      model: "mock-small",
      messages: HELLO,
      stream: true,
      stream_options: { include_usage: true },
    }),
  );
  assert(withUsage.done);
  const usageOnly = usageChunks(withUsage.chunks);
  assertEquals(usageOnly.length, 1, "one usage chunk when asked for");
  assertEquals(usageOnly[0].usage, usage);
  assertEquals(withUsage.chunks.at(-1), usageOnly[0], "the usage chunk comes last");

  const models = await fetch(`${gw.url}/v1/models`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assertEquals(models.status, 200);
  const list = await models.json();
  assertEquals(list.object, "list");
  assertEquals(list.data.map((m: { id: string }) => m.id), ["mock-small", "mock-large"]);
  for (const model of list.data) assertEquals(model.object, "model");

  assertNoSecretsLogged(gw, [key, ADMIN_TOKEN]);
});

/** Runs the SDK calls every mode must support; returns the streamed text. */
async function exerciseSdk(
  client: OpenAI,
  options: { model: string; models: string[]; traceId: string },
): Promise<{ content: string; streamed: string }> {
  const { data: completion, request_id } = await client.chat.completions.create(
    { model: options.model, messages: [{ role: "user", content: "Hello there" }] },
    { headers: { "X-Trace-Id": options.traceId } },
  ).withResponse();
  assertEquals(request_id, options.traceId, "the SDK sees the trace id as its request id");
  assertEquals(completion.object, "chat.completion");
  assertEquals(completion.choices[0].message.role, "assistant");
  const content = completion.choices[0].message.content ?? "";
  assert(content.length > 0);
  assert(completion.usage && completion.usage.total_tokens > 0);

  const stream = await client.chat.completions.create({
    model: options.model,
    messages: [{ role: "user", content: "Hello there" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let streamed = "";
  let chunks = 0;
  let usage: OpenAI.CompletionUsage | undefined;
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    chunks++;
    assertEquals(chunk.object, "chat.completion.chunk");
    streamed += chunk.choices[0]?.delta.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  assert(chunks >= 3, `only ${chunks} chunks`);
  assertEquals(finish, "stop");
  assert(usage && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);

  const ids: string[] = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assertEquals(ids, options.models);
  return { content, streamed };
}

Deno.test("the official OpenAI SDK works unchanged against the gateway in mock mode", async () => {
  await using gw = await startGateway({ env: mockEnv() });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });

  const { content, streamed } = await exerciseSdk(client, {
    model: "mock-large",
    models: ["mock-small", "mock-large"],
    traceId: "sdk-mock-trace-1",
  });
  assertEquals(streamed, content, "the stream tells the same reply as the whole answer");

  const unknown = await assertRejects(() =>
    client.chat.completions.create({
      model: "no-such-model",
      messages: [{ role: "user", content: "hi" }],
    })
  );
  assert(unknown instanceof OpenAI.NotFoundError, String(unknown));
  assertEquals(unknown.code, "model_not_found");

  const stranger = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
  const denied = await assertRejects(() => stranger.models.list());
  assert(denied instanceof OpenAI.AuthenticationError, String(denied));
});

Deno.test("the official OpenAI SDK works unchanged through an OpenAI-compatible upstream", async () => {
  await using upstream = startFakeUpstream();
  await using gw = await startGateway({ env: upstreamEnv(upstream) });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });

  const { content, streamed } = await exerciseSdk(client, {
    model: "gpt-4o-mini",
    models: ["upstream-model"],
    traceId: "sdk-upstream-trace-1",
  });
  assertEquals(content, "fake answer");
  assertEquals(streamed, "part0 part1 part2 ");
  const sent = chatRequests(upstream);
  assertEquals(sent.length, 2);
  assertEquals(sent[0].body?.model, "gpt-4o-mini");
  assertEquals(sent[0].headers["x-trace-id"], "sdk-upstream-trace-1");
});

Deno.test("the upstream gets the gateway's key and the caller's trace id, never the caller's key", async () => {
  await using upstream = startFakeUpstream();
  await using gw = await startGateway({ env: upstreamEnv(upstream) });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);
  const body = { model: "gpt-4o-mini", messages: HELLO };

  const traced = await chat(gw, key, body, { headers: { "X-Trace-Id": "client-trace-42" } });
  assertEquals(traced.status, 200);
  assertEquals(traced.headers.get("x-request-id"), "client-trace-42");
  assertEquals((await traced.json()).choices[0].message.content, "fake answer");
  let sent = chatRequests(upstream).at(-1)!;
  assertEquals(sent.headers["authorization"], `Bearer ${UPSTREAM_KEY}`);
  assertEquals(sent.headers["x-trace-id"], "client-trace-42");
  assertEquals(sent.body, body, "the request body is passed on as sent");

  const untraced = await chat(gw, key, body);
  await untraced.body?.cancel();
  const made = untraced.headers.get("x-request-id") ?? "";
  assertMatch(made, /^req-[0-9a-f]{8,}$/);
  assertEquals(chatRequests(upstream).at(-1)!.headers["x-trace-id"], made);

  const malformed = "not a valid id/with spaces";
  const replaced = await chat(gw, key, body, { headers: { "X-Trace-Id": malformed } });
  assertEquals(replaced.status, 200, "a malformed trace id does not fail the request");
  await replaced.body?.cancel();
  const replacement = replaced.headers.get("x-request-id") ?? "";
  assertMatch(replacement, /^req-[0-9a-f]{8,}$/);
  assertEquals(chatRequests(upstream).at(-1)!.headers["x-trace-id"], replacement);

  const w3cTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const w3c = await chat(gw, key, body, {
    headers: { traceparent: `00-${w3cTraceId}-00f067aa0ba902b7-01` },
  });
  await w3c.body?.cancel();
  sent = chatRequests(upstream).at(-1)!;
  const span = /^00-[0-9a-f]{32}-([0-9a-f]{16})-01$/.exec(sent.headers["traceparent"] ?? "")?.[1];
  assertMatch(sent.headers["traceparent"] ?? "", new RegExp(`^00-${w3cTraceId}-[0-9a-f]{16}-01$`));
  assertEquals(w3c.headers.get("x-request-id"), `${w3cTraceId}-${span}`);
  assertEquals(sent.headers["x-trace-id"], `${w3cTraceId}-${span}`);

  const streamed = await chat(gw, key, { ...body, stream: true }, {
    headers: { "X-Trace-Id": "stream-no-usage" },
  });
  const plain = await readStream(streamed);
  sent = chatRequests(upstream).at(-1)!;
  assertEquals(
    sent.body?.stream_options,
    { include_usage: true },
    "usage is asked of the upstream",
  );
  assert(plain.done);
  assertEquals(contentOf(plain.chunks), "part0 part1 part2 ");
  assertEquals(usageChunks(plain.chunks), [], "the usage the client did not ask for is dropped");
  const completed = await requestCompleted(gw, "stream-no-usage");
  assertEquals(completed.tokens, { input: 11, output: 7 }, "the gateway still counts the tokens");

  const asked = await readStream(
    await chat(gw, key, { ...body, stream: true, stream_options: { include_usage: true } }),
  );
  assert(asked.done);
  assertEquals(usageChunks(asked.chunks).map((c) => c.usage), [
    { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
  ]);

  for (const request of upstream.received) {
    const headers = JSON.stringify(request.headers);
    assert(!headers.includes(key), `the upstream saw the client's key: ${headers}`);
  }
  assertNoSecretsLogged(gw, [key, ADMIN_TOKEN, UPSTREAM_KEY]);
});

Deno.test("streamed tokens reach the client as the upstream sends them, not at the end", async () => {
  await using upstream = startFakeUpstream({ chunkDelayMs: 300, chunks: 5 });
  await using gw = await startGateway({ env: upstreamEnv(upstream) });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);

  const started = performance.now();
  const response = await chat(gw, key, { model: "gpt-4o-mini", messages: HELLO, stream: true });
  assertEquals(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let firstContentMs: number | undefined;
  const contentTimes: number[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
    if (firstContentMs === undefined && contentOf(chunksIn(text)).length > 0) {
      firstContentMs = performance.now() - started;
    }
    if (value.includes("part")) contentTimes.push(performance.now() - started);
  }
  const totalMs = performance.now() - started;
  assertEquals(contentOf(chunksIn(text)), "part0 part1 part2 part3 part4 ");
  assert(firstContentMs !== undefined);
  // The upstream needs about 8 × 300 ms to finish; the first word is ready after about 300 ms.
  assert(totalMs >= 2000, `the upstream took only ${Math.round(totalMs)} ms`);
  assert(
    firstContentMs < 1200 && firstContentMs < totalMs - 1000,
    `first content after ${Math.round(firstContentMs)} ms of ${Math.round(totalMs)} ms`,
  );
  assert(contentTimes.length >= 4, `content came in ${contentTimes.length} reads`);
});

Deno.test("a client that hangs up mid-stream stops the upstream stream, and the gateway keeps serving", async () => {
  await using upstream = startFakeUpstream({ chunkDelayMs: 200, chunks: 30 });
  await using gw = await startGateway({ env: upstreamEnv(upstream) });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);

  const controller = new AbortController();
  const response = await chat(gw, key, { model: "gpt-4o-mini", messages: HELLO, stream: true }, {
    headers: { "X-Trace-Id": "hang-up-1" },
    signal: controller.signal,
  });
  assertEquals(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("part0")) {
    const { done, value } = await reader.read();
    assert(!done, "the stream ended before its first words");
    text += value;
  }
  controller.abort();
  await reader.read().catch(() => {});
  reader.releaseLock();

  const canceled = await waitUntil(() => upstream.canceledStreams >= 1, 2000);
  assert(canceled, "the upstream stream was not canceled within 2 s of the client leaving");
  const record = await gw.waitForRecord((r) =>
    r.message === "upstream_canceled" && r.trace_id === "hang-up-1"
  );
  assertEquals(record.level, "INFO");
  assert(
    !gw.records().some((r) => r.message === "upstream_error" && r.trace_id === "hang-up-1"),
    "a client hanging up is not logged as an upstream error",
  );

  upstream.behaviour = {};
  const after = await readStream(
    await chat(gw, key, { model: "gpt-4o-mini", messages: HELLO, stream: true }),
  );
  assert(after.done);
  assertEquals(contentOf(after.chunks), "part0 part1 part2 ");
  const plain = await chat(gw, key, { model: "gpt-4o-mini", messages: HELLO });
  assertEquals(plain.status, 200);
  await plain.body?.cancel();
});

Deno.test("the gateway's own refusals come back as OpenAI error bodies with the right status", async () => {
  await using gw = await startGateway({ env: mockEnv({ MAX_BODY_BYTES: "2048" }) });
  const { key, keyId } = await createTenantWithKey(gw, ADMIN_TOKEN);
  const secrets = [key, ADMIN_TOKEN];
  const ok = { model: "mock-small", messages: HELLO };

  await expectError(
    await chat(gw, key, "{not json"),
    { status: 400, code: "invalid_json" },
    secrets,
  );
  const schema = await expectError(
    await chat(gw, key, { model: "mock-small" }),
    { status: 400, type: "invalid_request_error" },
    secrets,
  );
  assertStringIncludes(schema.message, "messages");
  await expectError(
    await chat(gw, undefined, ok),
    { status: 401, type: "authentication_error", code: "missing_api_key" },
    secrets,
  );
  const wrongKey = `sk-gw-${"A".repeat(43)}`;
  await expectError(
    await chat(gw, wrongKey, ok),
    { status: 401, type: "authentication_error", code: "invalid_api_key" },
    [...secrets, wrongKey],
  );
  await expectError(
    await chat(gw, key, { model: "gpt-5-unknown", messages: HELLO }),
    { status: 404, code: "model_not_found" },
    secrets,
  );
  const auth = { authorization: `Bearer ${key}` };
  await expectError(
    await fetch(`${gw.url}/v1/no-such-route`, { headers: auth }),
    { status: 404, code: "unknown_route" },
    secrets,
  );
  await expectError(await fetch(`${gw.url}/nowhere`), { status: 404 }, secrets);
  const wrongMethod = await fetch(`${gw.url}/v1/chat/completions`, { headers: auth });
  assertEquals(wrongMethod.headers.get("allow"), "POST");
  await expectError(wrongMethod, { status: 405, code: "method_not_allowed" }, secrets);

  const big = { model: "mock-small", messages: [{ role: "user", content: "x".repeat(4096) }] };
  await expectError(
    await chat(gw, key, big),
    { status: 413, code: "request_too_large" },
    secrets,
  );
  const chunked = new Blob([JSON.stringify(big)]).stream();
  await expectError(
    await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: chunked,
    }),
    { status: 413, code: "request_too_large" },
    secrets,
  );

  const before = await chat(gw, key, ok);
  assertEquals(before.status, 200);
  await before.body?.cancel();
  const revoke = await fetch(`${gw.url}/internal/keys/${keyId}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  assertEquals(revoke.status, 200);
  assert((await revoke.json()).revoked_at, "the key is marked revoked");
  await expectError(
    await chat(gw, key, ok, { headers: { "X-Trace-Id": "after-revoke" } }),
    { status: 401, type: "authentication_error", code: "revoked_api_key" },
    secrets,
  );

  await requestCompleted(gw, "after-revoke");
  assertNoSecretsLogged(gw, [key, ADMIN_TOKEN, wrongKey]);
});

Deno.test("upstream failures come back as OpenAI errors with the right status, logged with the trace id", async () => {
  await using upstream = startFakeUpstream();
  await using gw = await startGateway({
    // One attempt each: this test is about how failures are told, not about retrying them.
    env: upstreamEnv(upstream, { UPSTREAM_TIMEOUT_MS: "500", UPSTREAM_MAX_ATTEMPTS: "1" }),
  });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);
  const secrets = [UPSTREAM_KEY, key, ADMIN_TOKEN];
  const body = { model: "gpt-4o-mini", messages: HELLO };
  const failures: string[] = [];
  const send = (traceId: string, request: unknown = body) => {
    failures.push(traceId);
    return chat(gw, key, request, { headers: { "X-Trace-Id": traceId } });
  };

  upstream.behaviour = { status: 500 };
  await expectError(
    await send("upstream-500"),
    { status: 502, type: "upstream_error", code: "upstream_server_error" },
    secrets,
  );
  await expectError(
    await send("upstream-500-stream", { ...body, stream: true }),
    { status: 502, code: "upstream_server_error" },
    secrets,
  );

  upstream.behaviour = { status: 401 };
  await expectError(await send("upstream-401"), { status: 502, code: "upstream_auth" }, secrets);

  upstream.behaviour = { delayMs: 5000 };
  const started = performance.now();
  await expectError(
    await send("upstream-hangs"),
    { status: 504, code: "upstream_timeout" },
    secrets,
  );
  const waited = performance.now() - started;
  assert(waited >= 450 && waited < 2000, `the timeout took ${Math.round(waited)} ms`);

  upstream.behaviour = { rawBody: "<html>this is not JSON" };
  await expectError(
    await send("upstream-not-json"),
    { status: 502, code: "upstream_invalid_response" },
    secrets,
  );
  await expectError(
    await send("upstream-not-a-stream", { ...body, stream: true }),
    { status: 502, code: "upstream_invalid_response" },
    secrets,
  );

  upstream.behaviour = { status: 429, headers: { "retry-after": "7" } };
  const limited = await send("upstream-429");
  assertEquals(limited.headers.get("retry-after"), "7");
  await expectError(limited, { status: 429, type: "rate_limit_error" }, secrets);

  upstream.behaviour = {
    status: 400,
    errorMessage: `Invalid value for 'temperature' (key ${UPSTREAM_KEY})`,
  };
  const rejected = await expectError(
    await send("upstream-400"),
    { status: 400, type: "invalid_request_error" },
    secrets,
  );
  assertStringIncludes(rejected.message, "Invalid value for 'temperature'");

  upstream.behaviour = {};
  const recovered = await chat(gw, key, body, { headers: { "X-Trace-Id": "recovered" } });
  assertEquals(recovered.status, 200, "the gateway serves again once the upstream does");
  await recovered.body?.cancel();
  await requestCompleted(gw, "recovered");

  const records = gw.records();
  for (const traceId of failures) {
    const logged = records.find((r) => r.message === "upstream_error" && r.trace_id === traceId);
    assert(logged, `no upstream_error record for ${traceId}`);
    assertEquals(logged.level, "ERROR");
    assertEquals(logged.provider, "openai");
  }
  const timeout = records.find((r) =>
    r.message === "upstream_error" && r.trace_id === "upstream-hangs"
  );
  assertEquals(timeout?.error_class, "timeout");
  assertNoSecretsLogged(gw, secrets);
});

Deno.test("an unreachable upstream gives 502 naming a connection failure", async () => {
  // Port 1 rather than a port found free: with test files running in parallel, a port freed
  // here could be taken by another test's gateway before this one calls it.
  await using gw = await startGateway({ env: upstreamEnv({ url: "http://127.0.0.1:1/v1" }) });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);
  const secrets = [UPSTREAM_KEY, key, ADMIN_TOKEN];
  const body = { model: "gpt-4o-mini", messages: HELLO };

  const error = await expectError(
    await chat(gw, key, body, { headers: { "X-Trace-Id": "unreachable-1" } }),
    { status: 502, type: "upstream_error", code: "upstream_connect" },
    secrets,
  );
  assert(!error.message.includes("127.0.0.1"), "the upstream's address is not shown");
  await expectError(
    await chat(gw, key, { ...body, stream: true }, { headers: { "X-Trace-Id": "unreachable-2" } }),
    { status: 502, code: "upstream_connect" },
    secrets,
  );

  await requestCompleted(gw, "unreachable-2");
  for (const traceId of ["unreachable-1", "unreachable-2"]) {
    const logged = gw.records().find((r) =>
      r.message === "upstream_error" && r.trace_id === traceId
    );
    assertEquals(logged?.error_class, "connect", `upstream_error of ${traceId}`);
  }
  assertNoSecretsLogged(gw, secrets);
});

Deno.test("an upstream key of any shape never reaches the client or the logs, even when the upstream echoes it", async () => {
  // Self-hosted OpenAI-compatible servers (vLLM, Ollama, LiteLLM) take keys of any shape, and
  // some echo what they were sent in their error messages.
  const plainKey = "local-vllm-token-7c1e94b2d05a";
  await using upstream = startFakeUpstream({
    status: 400,
    errorMessage: `Unsupported parameter 'foo' in request authorized by ${plainKey}`,
  });
  await using gw = await startGateway({
    env: { ...upstreamEnv(upstream), OPENAI_API_KEY: plainKey },
  });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);

  const rejected = await expectError(
    await chat(gw, key, { model: "gpt-4o-mini", messages: HELLO }, {
      headers: { "X-Trace-Id": "echoed-key" },
    }),
    { status: 400, code: "upstream_rejected" },
    [plainKey, key, ADMIN_TOKEN],
  );
  assertStringIncludes(rejected.message, "Unsupported parameter 'foo'");
  await requestCompleted(gw, "echoed-key");
  assertNoSecretsLogged(gw, [plainKey, key, ADMIN_TOKEN]);
});
