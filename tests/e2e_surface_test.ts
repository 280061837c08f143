/**
 * End-to-end tests of `POST /v1/embeddings` and `POST /v1/completions`: the real gateway, in mock
 * mode, in front of a fake OpenAI-compatible upstream, and routing over failing deployments,
 * driven through the official OpenAI SDK and over HTTP; the requests are billed, rate limited,
 * signed and counted like chat.
 */
import OpenAI from "openai";
import { signRequest } from "../src/auth/sign_request.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import {
  FAKE_EMBEDDING_USAGE,
  FAKE_USAGE,
  fakeEmbedding,
  startFakeUpstream,
} from "./fake_upstream.ts";
import {
  createTenantWithKey,
  type GatewayProcess,
  startGateway,
  waitFor,
} from "./gateway_process.ts";

const ADMIN_TOKEN = "e2e-surface-admin-token-0123456789";
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
// $0.001 a token in, $0.002 a token out: every request costs something.
const PRICES = JSON.stringify({
  "mock-gpt": { input_per_1m_tokens: 1_000, output_per_1m_tokens: 2_000 },
  "text-embedding-3-small": { input_per_1m_tokens: 1_000, output_per_1m_tokens: 0 },
  "gpt-3.5-turbo-instruct": { input_per_1m_tokens: 1_000, output_per_1m_tokens: 2_000 },
});

interface Usage {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

async function usage(gw: GatewayProcess, tenantId: string): Promise<Usage> {
  const response = await fetch(`${gw.url}/internal/tenants/${tenantId}/usage`, { headers: ADMIN });
  return await response.json();
}

/** The tenant's ledger totals once `requests` requests are settled. */
function settled(gw: GatewayProcess, tenantId: string, requests: number): Promise<Usage> {
  return waitFor(async () => {
    const totals = await usage(gw, tenantId);
    return totals.requests >= requests ? totals : undefined;
  }, { what: `${requests} requests settled` });
}

async function balanceUsd(gw: GatewayProcess, tenantId: string): Promise<number> {
  return (await (await fetch(`${gw.url}/internal/tenants/${tenantId}`, { headers: ADMIN })).json())
    .balance_usd;
}

/** Checks the ledger and the balance agree: the balance is the initial one minus the ledger. */
async function assertBalanceMatchesLedger(
  gw: GatewayProcess,
  tenantId: string,
  initialUsd: number,
  totals: Usage,
): Promise<void> {
  assert(totals.cost_usd > 0, "the requests were charged");
  assertEquals(
    Math.round((await balanceUsd(gw, tenantId)) * 1e6),
    Math.round((initialUsd - totals.cost_usd) * 1e6),
    "balance equals initial minus the ledger's sum",
  );
}

/** The value of one sample of `/metrics`, 0 when absent. */
async function metric(gw: GatewayProcess, series: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

function post(
  gw: GatewayProcess,
  path: string,
  key: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The text and the usage of a legacy completion stream, read to its end. */
async function readCompletionStream(
  stream: AsyncIterable<OpenAI.Completion>,
): Promise<{ text: string; usage?: OpenAI.CompletionUsage }> {
  let text = "";
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, usage };
}

function norm(vector: number[]): number {
  return Math.hypot(...vector);
}

Deno.test("mock mode: the OpenAI SDK makes embeddings and completions, billed and counted", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN, MODEL_PRICES: PRICES } });
  const { key, tenantId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 10 });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });

  // The SDK asks for base64 unless told otherwise, and decodes it into floats.
  const packed = await client.embeddings.create({
    model: "mock-gpt",
    input: ["alpha", "beta"],
    dimensions: 8,
  });
  assertEquals(packed.object, "list");
  assertEquals(packed.model, "mock-gpt");
  assertEquals(packed.data.map((item) => item.index), [0, 1]);
  for (const item of packed.data) {
    assertEquals(item.embedding.length, 8);
    assert(Math.abs(norm(item.embedding) - 1) < 1e-5, "a unit vector");
  }
  const floats = await client.embeddings.create({
    model: "mock-gpt",
    input: ["alpha", "beta"],
    dimensions: 8,
    encoding_format: "float",
  });
  assertEquals(
    floats.data.map((item) => Array.from(item.embedding)),
    packed.data.map((item) => Array.from(item.embedding)),
    "the same input gives the same vectors, in either encoding",
  );
  assertEquals(floats.usage, { prompt_tokens: 3, total_tokens: 3 });

  const completion = await client.completions.create({
    model: "mock-gpt",
    prompt: "Say hello",
    max_tokens: 50,
  });
  assertEquals(completion.object, "text_completion");
  assertStringIncludes(completion.choices[0].text, "Say hello");
  assertEquals(completion.choices[0].finish_reason, "stop");
  const whole = completion.usage!;
  assert(whole.prompt_tokens > 0 && whole.completion_tokens > 0, JSON.stringify(whole));

  const stream = await client.completions.create({
    model: "mock-gpt",
    prompt: "Say hello",
    max_tokens: 50,
    stream: true,
    stream_options: { include_usage: true },
  });
  const { text: streamed, usage: streamUsage } = await readCompletionStream(stream);
  assertEquals(streamed, completion.choices[0].text);
  assertEquals(streamUsage, whole);

  const totals = await settled(gw, tenantId, 4);
  assertEquals(totals.requests, 4, "one ledger row per request");
  assertEquals(totals.input_tokens, 3 + 3 + whole.prompt_tokens * 2);
  assertEquals(totals.output_tokens, whole.completion_tokens * 2, "embeddings produce nothing");
  await assertBalanceMatchesLedger(gw, tenantId, 10, totals);

  const ok = (path: string) => `gateway_request_total{path="${path}",method="POST",status="200"}`;
  assertEquals(await metric(gw, ok("/v1/embeddings")), 2);
  assertEquals(await metric(gw, ok("/v1/completions")), 2);
  const input = 'gateway_tokens_total{provider="mock",model="mock-gpt",direction="input"}';
  assertEquals(await metric(gw, input), totals.input_tokens);

  const invalid = await assertRejects(() =>
    client.embeddings.create({ model: "mock-gpt", input: [] })
  );
  assert(invalid instanceof OpenAI.BadRequestError, String(invalid));
  assertEquals([invalid.code, invalid.param], ["invalid_request", "input"]);
  const unknown = await assertRejects(() =>
    client.completions.create({ model: "no-such-model", prompt: "x" })
  );
  assert(unknown instanceof OpenAI.NotFoundError, String(unknown));

  for (const path of ["/v1/embeddings", "/v1/completions"]) {
    const wrong = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    assertEquals(wrong.status, 405);
    assertEquals(wrong.headers.get("allow"), "POST");
    assertEquals((await wrong.json()).error.code, "method_not_allowed");
  }
  const stranger = await post(gw, "/v1/embeddings", "sk-wrong", { model: "mock-gpt", input: "x" });
  assertEquals(stranger.status, 401);
  await stranger.body?.cancel();
});

Deno.test("through an OpenAI-compatible upstream: passed through, usage asked for and billed", async () => {
  await using upstream = startFakeUpstream();
  await using gw = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_PRICES: PRICES,
      OPENAI_BASE_URL: upstream.url,
      OPENAI_API_KEY: "sk-surface-upstream-key-0123456789",
    },
  });
  const { key, tenantId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 10 });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });

  const embedded = await client.embeddings.create(
    { model: "text-embedding-3-small", input: ["one", "two"], user: "end-user-1" },
    { headers: { "X-Trace-Id": "surface-embed-1" } },
  );
  assertEquals(embedded.data.map((item) => Array.from(item.embedding)), [
    fakeEmbedding(0),
    fakeEmbedding(1),
  ]);
  assertEquals(embedded.usage, FAKE_EMBEDDING_USAGE);
  let sent = upstream.received.at(-1)!;
  assertEquals(sent.path, "/v1/embeddings");
  assertEquals(sent.body, {
    model: "text-embedding-3-small",
    input: ["one", "two"],
    user: "end-user-1",
    encoding_format: "base64",
  });
  assertEquals(sent.headers["authorization"], "Bearer sk-surface-upstream-key-0123456789");
  assertEquals(sent.headers["x-trace-id"], "surface-embed-1");
  const embedLine = await gw.waitForRecord((r) =>
    r.message === "request_completed" && r.trace_id === "surface-embed-1"
  );
  assertEquals(embedLine.path, "/v1/embeddings");
  assertEquals(embedLine.tokens, { input: 5, output: 0 });

  const completion = await client.completions.create({
    model: "gpt-3.5-turbo-instruct",
    prompt: "Say this is a test",
    max_tokens: 7,
    logprobs: 2,
  });
  assertEquals(completion.choices[0].text, "fake completion");
  assertEquals(completion.usage, FAKE_USAGE);
  sent = upstream.received.at(-1)!;
  assertEquals(sent.path, "/v1/completions");
  assertEquals(sent.body, {
    model: "gpt-3.5-turbo-instruct",
    prompt: "Say this is a test",
    max_tokens: 7,
    logprobs: 2,
  });

  // The client did not ask for usage: the gateway asks for it, and keeps the chunk to itself.
  const plain = await post(gw, "/v1/completions", key, {
    model: "gpt-3.5-turbo-instruct",
    prompt: "Count",
    stream: true,
  }, { "x-trace-id": "surface-stream-1" });
  assertEquals(plain.status, 200);
  assertStringIncludes(plain.headers.get("content-type") ?? "", "text/event-stream");
  const text = await plain.text();
  assertEquals(upstream.received.at(-1)?.body?.stream_options, { include_usage: true });
  assert(text.trimEnd().endsWith("data: [DONE]"), text);
  assert(!text.includes('"usage":{'), `a usage chunk the client did not ask for: ${text}`);
  assertStringIncludes(text, '"text":"part2 "');
  const streamLine = await gw.waitForRecord((r) =>
    r.message === "request_completed" && r.trace_id === "surface-stream-1"
  );
  assertEquals(streamLine.tokens, { input: 11, output: 7 }, "the gateway still counts them");

  const stream = await client.completions.create({
    model: "gpt-3.5-turbo-instruct",
    prompt: "Count",
    stream: true,
    stream_options: { include_usage: true },
  });
  const { text: streamed, usage: streamUsage } = await readCompletionStream(stream);
  assertEquals(streamed, "part0 part1 part2 ");
  assertEquals(streamUsage, FAKE_USAGE);

  // An upstream that reports no usage: the embeddings are billed by the gateway's estimate.
  upstream.behaviour = { omitUsage: true };
  const estimated = await post(gw, "/v1/embeddings", key, {
    model: "text-embedding-3-small",
    input: "12345678",
    encoding_format: "float",
  });
  assertEquals(estimated.status, 200);
  assertEquals((await estimated.json()).data[0].embedding, fakeEmbedding(0));

  const totals = await settled(gw, tenantId, 5);
  assertEquals(totals.requests, 5);
  assertEquals(totals.input_tokens, 5 + 11 * 3 + 2, "upstream usage, and 8 characters estimated");
  assertEquals(totals.output_tokens, 7 * 3);
  await assertBalanceMatchesLedger(gw, tenantId, 10, totals);
  assertEquals(
    await metric(gw, 'gateway_request_total{path="/v1/embeddings",method="POST",status="200"}'),
    2,
  );
  const usageLogged = gw.stdout().some((line) => line.includes("sk-surface-upstream-key"));
  assert(!usageLogged, "the upstream key never reaches a log line");
});

Deno.test("embeddings and completions are rate limited, quota-checked and signed like chat", async () => {
  const masterKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  await using gw = await startGateway({
    env: { ADMIN_TOKEN, MODEL_PRICES: PRICES, SIGNING_MASTER_KEY: masterKey },
  });

  const limited = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 10 });
  const patched = await fetch(`${gw.url}/internal/keys/${limited.keyId}`, {
    method: "PATCH",
    headers: ADMIN,
    body: JSON.stringify({ rpm_limit: 1 }),
  });
  assertEquals(patched.status, 200);
  await patched.body?.cancel();
  const first = await post(gw, "/v1/embeddings", limited.key, { model: "mock-gpt", input: "x" });
  assertEquals(first.status, 200);
  assertEquals(first.headers.get("x-ratelimit-limit-requests"), "1");
  await first.body?.cancel();
  for (
    const [path, body] of [
      ["/v1/embeddings", { model: "mock-gpt", input: "x" }],
      ["/v1/completions", { model: "mock-gpt", prompt: "x" }],
    ] as const
  ) {
    const refused = await post(gw, path, limited.key, body);
    assertEquals(refused.status, 429, path);
    assert(Number(refused.headers.get("retry-after")) >= 1);
    const error = (await refused.json()).error;
    assertEquals([error.type, error.code], ["rate_limit_error", "rate_limit_requests"]);
  }
  assertEquals(
    await metric(gw, 'gateway_rate_limit_hits_total{scope="key",kind="requests"}'),
    2,
  );

  // $0.01 covers a one-token embedding ($0.001) but not 1000 completion tokens at $0.002.
  const poor = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 0.01 });
  const covered = await post(gw, "/v1/embeddings", poor.key, { model: "mock-gpt", input: "hi" });
  assertEquals(covered.status, 200);
  await covered.body?.cancel();
  const uncovered = await post(gw, "/v1/completions", poor.key, {
    model: "mock-gpt",
    prompt: "hi",
    max_tokens: 1000,
  });
  assertEquals(uncovered.status, 429);
  assertEquals((await uncovered.json()).error.code, "insufficient_quota");
  const poorTotals = await settled(gw, poor.tenantId, 1);
  await assertBalanceMatchesLedger(gw, poor.tenantId, 0.01, poorTotals);

  const tenant = await (await fetch(`${gw.url}/internal/tenants`, {
    method: "POST",
    headers: ADMIN,
    body: JSON.stringify({ name: "signed", balance_usd: 5 }),
  })).json();
  const signed = await (await fetch(`${gw.url}/internal/tenants/${tenant.id}/keys`, {
    method: "POST",
    headers: ADMIN,
    body: JSON.stringify({ name: "signed", require_signature: true }),
  })).json();
  for (
    const [path, body] of [
      ["/v1/embeddings", JSON.stringify({ model: "mock-gpt", input: "signed" })],
      ["/v1/completions", JSON.stringify({ model: "mock-gpt", prompt: "signed" })],
    ] as const
  ) {
    const unsigned = await post(gw, path, signed.key, body);
    assertEquals(unsigned.status, 401, path);
    assertEquals((await unsigned.json()).error.code, "invalid_signature");
    const headers = await signRequest({
      secret: signed.signing_secret,
      method: "POST",
      url: `${gw.url}${path}`,
      body,
    });
    const accepted = await post(gw, path, signed.key, body, headers);
    assertEquals(accepted.status, 200, path);
    await accepted.body?.cancel();
  }
});

Deno.test("a failing deployment falls over to a good one for embeddings and completions", async () => {
  await using primary = startFakeUpstream({ status: 500 });
  await using backup = startFakeUpstream();
  const deployments = [
    { provider: "openai", model: "primary", base_url: primary.url, priority: 0 },
    { provider: "openai", model: "backup", base_url: backup.url, priority: 1 },
  ];
  await using gw = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify({
        "embed": { strategy: "priority", deployments },
        "instruct": { strategy: "priority", deployments },
      }),
      OPENAI_API_KEY: "sk-surface-routes-key-0123456789",
      CIRCUIT_MIN_CALLS: "1000",
    },
  });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 10 });

  const embedded = await post(gw, "/v1/embeddings", key, { model: "embed", input: "x" });
  assertEquals(embedded.status, 200);
  assertEquals((await embedded.json()).model, "backup", "the fake echoes its model name");
  const completed = await post(gw, "/v1/completions", key, { model: "instruct", prompt: "x" });
  assertEquals(completed.status, 200);
  assertEquals((await completed.json()).model, "backup");
  const streamed = await post(gw, "/v1/completions", key, {
    model: "instruct",
    prompt: "x",
    stream: true,
  });
  assertEquals(streamed.status, 200);
  assertStringIncludes(await streamed.text(), '"model":"backup"');

  assertEquals(primary.received.map((r) => r.path), [
    "/v1/embeddings",
    "/v1/completions",
    "/v1/completions",
  ]);
  assertEquals(
    await metric(
      gw,
      'gateway_upstream_retries_total{model="embed",kind="fallback",error="server_error"}',
    ),
    1,
  );
  assertEquals(
    await metric(
      gw,
      'gateway_upstream_retries_total{model="instruct",kind="fallback",error="server_error"}',
    ),
    2,
  );
  // Each route has its own deployments (and circuits): the second route's default names take a
  // suffix, so that its failures are a series of their own.
  const primaryName = `openai:primary:${new URL(primary.url).host}`;
  for (const [name, failures] of [[primaryName, 1], [`${primaryName}-2`, 2]] as const) {
    assertEquals(
      await metric(
        gw,
        `gateway_upstream_failures_total{provider="openai",model="primary",deployment="${name}",error="server_error"}`,
      ),
      failures,
      name,
    );
  }

  // With every deployment failing, the client gets the upstream failure in OpenAI's shape.
  backup.behaviour = { status: 503 };
  const failed = await post(gw, "/v1/embeddings", key, { model: "embed", input: "x" });
  assertEquals(failed.status, 502);
  assertEquals((await failed.json()).error.code, "upstream_server_error");
});
