import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import {
  ApiKeyAuthenticator,
  generateApiKey,
  MemoryNonceStore,
  RequestSignatures,
  SignatureVerifier,
} from "../auth/mod.ts";
import { getLogger } from "../observability/logging.ts";
import { GatewayMetrics } from "../observability/metrics.ts";
import { Admission, ModelPipeline } from "../pipeline/mod.ts";
import { MemoryRateLimiter } from "../limits/mod.ts";
import { MockProvider } from "../providers/mod.ts";
import {
  createDeployment,
  Deadlines,
  ModelRouter,
  RetryPolicy,
  UpstreamCaller,
} from "../routing/mod.ts";
import type { ApiKey, Store, Tenant } from "../store/mod.ts";
import { TenantService } from "../tenants/mod.ts";
import { AuditWriter } from "../audit/mod.ts";
import { Billing, Metering, PriceList, Quota, StoreFunds } from "../billing/mod.ts";
import type { JobQueue } from "../queue/mod.ts";
import { RecentUpstreamFailures } from "../observability/upstream_failures.ts";
import { StatusService } from "../status/mod.ts";
import { Idempotency, StoreIdempotencyRecords } from "../idempotency/mod.ts";
import { ResponsesService } from "../responses/mod.ts";
import { createApp } from "./app.ts";

const secret = generateApiKey();

const ADMIN_TOKEN = "admin-token-for-tests";

function buildApp(
  options: {
    maxBodyBytes?: number;
    draining?: boolean;
    keyModels?: readonly string[] | null;
    tenantModels?: readonly string[] | null;
  } = {},
) {
  const key: ApiKey = {
    id: "key_1",
    tenantId: "tnt_1",
    name: "k",
    prefix: "sk-gw-x",
    rpmLimit: null,
    tpmLimit: null,
    models: options.keyModels ?? null,
    budgetMicros: null,
    budgetPeriod: null,
    spentMicros: 0,
    reservedMicros: 0,
    requireSignature: false,
    signingSecretSealed: null,
    createdAt: new Date(),
    revokedAt: null,
  };
  const tenant: Tenant = {
    id: "tnt_1",
    name: "acme",
    balanceMicros: 0,
    reservedMicros: 0,
    rpmLimit: null,
    tpmLimit: null,
    models: options.tenantModels ?? null,
    budgetMicros: null,
    budgetPeriod: null,
    createdAt: new Date(),
  };
  const reserved: unknown[] = [];
  const store = {
    findCredential: (hash: string) =>
      Promise.resolve(hash === secret.hash ? { key, tenant } : undefined),
    getTenant: () => Promise.resolve(undefined),
    reserve: (input: unknown) => {
      reserved.push(input);
      return Promise.resolve({ ok: true });
    },
    reserveMany: (inputs: unknown[]) => {
      reserved.push(...inputs);
      return Promise.resolve(inputs.map(() => ({ ok: true })));
    },
    settleMany: (entries: unknown[]) => Promise.resolve(entries.map(() => "settled")),
    release: () => Promise.resolve(),
    settle: () => Promise.resolve("settled"),
    writeAudit: () => Promise.resolve(),
  } as unknown as Store;
  const queue = fakeQueue();
  const prices = new PriceList({
    prices: {},
    fallback: { input_per_1m_tokens: 1, output_per_1m_tokens: 1 },
  });
  const metrics = new GatewayMetrics();
  const authenticator = new ApiKeyAuthenticator({ store, cacheTtlMs: 1000 });
  const logger = getLogger("test");
  const mock = createDeployment({
    name: "mock",
    provider: new MockProvider({ models: ["mock-gpt", "mock-mini"] }),
    upstreamModel: undefined,
    weight: 1,
    priority: 0,
    timeouts: { totalMs: 1000, connectMs: 1000, firstByteMs: undefined, idleMs: 1000 },
  }, {
    breaker: {
      failureRatio: 0.5,
      minCalls: 10,
      windowMs: 10_000,
      cooldownMs: 1000,
      halfOpenProbes: 1,
    },
    metrics,
    logger,
  });
  const router = new ModelRouter({
    routes: ["mock-gpt", "mock-mini"].map((model) => ({
      model,
      strategy: "weighted" as const,
      deployments: [mock],
    })),
  });
  const upstream = new UpstreamCaller({
    router,
    policy: new RetryPolicy({
      maxAttempts: 1,
      deadlineMs: 1000,
      backoffMs: 10,
      backoffMaxMs: 10,
      retryAfterMaxMs: 10,
    }),
    deadlines: new Deadlines(),
    metrics,
    logger,
  });
  const admission = new Admission({
    limiter: new MemoryRateLimiter(),
    defaults: {},
    metrics,
    logger,
  });
  const billing = new Billing({ queue, store, logger, maxAttempts: 3 });
  const quota = new Quota({
    funds: new StoreFunds(store),
    prices,
    marginMicros: 0,
    reservationTtlMs: 60_000,
    logger,
  });
  const audit = new AuditWriter({ queue, store, logger, flushMs: 1 });
  const pipeline = new ModelPipeline({
    router,
    upstream,
    metering: new Metering({ quota, billing, prices, logger }),
    admission,
    defaultMaxTokens: 100,
  });
  const app = createApp({
    metrics,
    logger,
    authenticator,
    signatures: new RequestSignatures({
      verifier: new SignatureVerifier({ nonces: new MemoryNonceStore() }),
      box: undefined,
      logger,
    }),
    pipeline,
    responses: new ResponsesService({ pipeline, store }),
    idempotency: new Idempotency({
      records: new StoreIdempotencyRecords(store),
      leaseMs: 30_000,
      waitMs: 1000,
      retentionMs: 86_400_000,
      maxAnswerBytes: 1_048_576,
      logger,
    }),
    tenants: new TenantService({ store, authenticator, audit }),
    audit,
    queue,
    status: new StatusService({ queue, store, failures: new RecentUpstreamFailures(), logger }),
    adminToken: ADMIN_TOKEN,
    maxBodyBytes: options.maxBodyBytes ?? 10_000,
    readiness: { database: () => Promise.resolve(), redis: undefined },
    isDraining: () => options.draining ?? false,
    serveApi: true,
  });
  return { app, metrics, queue, reserved };
}

/** A queue that only records what is enqueued. */
function fakeQueue(): JobQueue & { sent: Array<{ task: string; payload: unknown }> } {
  const sent: Array<{ task: string; payload: unknown }> = [];
  return {
    sent,
    enqueue: (_queue, task, payload) => {
      sent.push({ task, payload });
      return Promise.resolve(String(sent.length));
    },
    register: () => {},
    start: () => {},
    stop: () => Promise.resolve(),
    depths: () => Promise.resolve({}),
    workers: () => Promise.resolve([]),
    stats: () => ({}),
    deadLetters: () => Promise.resolve([]),
    redrive: () => Promise.resolve(false),
  };
}

function chat(body: unknown, headers: Record<string, string> = {}) {
  return new Request("http://gateway.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${secret.secret}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const hello = { model: "mock-gpt", messages: [{ role: "user", content: "Hello" }] };

Deno.test("a completed request is billed through the billing queue", async () => {
  const { app, queue } = buildApp();
  await (await app.request(chat(hello, { "x-trace-id": "req-billed" }))).text();
  const settle = queue.sent.find((job) => job.task === "billing.settle");
  assertEquals((settle?.payload as { traceId: string }).traceId, "req-billed");
  assertEquals((settle?.payload as { estimated: boolean }).estimated, false);
});

Deno.test("metrics label requests by route template, never by raw URL", async () => {
  const { app, metrics } = buildApp();
  await (await app.request(chat(hello))).text();
  await (await app.request("/nope/12345")).text();
  const tenantRequest = await app.request("/internal/tenants/tnt_123", {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  await tenantRequest.text();
  const { body } = await metrics.render();
  assertMatch(
    body,
    /gateway_request_total\{path="\/v1\/chat\/completions",method="POST",status="200"\} 1/,
  );
  assertMatch(body, /gateway_request_total\{path="unmatched",method="GET",status="404"\} 1/);
  assertMatch(body, /path="\/internal\/tenants\/:id"/);
  assertEquals(body.includes("12345"), false);
  assertEquals(body.includes("tnt_123"), false);
  assertMatch(
    body,
    /gateway_upstream_latency_seconds_count\{provider="mock",model="mock-gpt",deployment="mock",success="true"\} 1/,
  );
});

Deno.test("every answer carries the request id, the client's when well-formed", async () => {
  const { app } = buildApp();
  const given = await app.request(chat(hello, { "x-trace-id": "req-abc123" }));
  await given.text();
  assertEquals(given.headers.get("x-request-id"), "req-abc123");
  const made = await app.request("/health");
  await made.text();
  assertMatch(made.headers.get("x-request-id") ?? "", /^req-[0-9a-f]{24}$/);
});

Deno.test("bad requests get OpenAI's error body with the right status", async () => {
  const { app } = buildApp({ maxBodyBytes: 100 });
  const cases: Array<[Request, number, string]> = [
    [chat("{nope"), 400, "invalid_json"],
    [chat({ model: "mock-gpt" }), 400, "invalid_request"],
    [chat(hello, { authorization: "" }), 401, "missing_api_key"],
    [chat(hello, { authorization: "Bearer sk-gw-wrong" }), 401, "invalid_api_key"],
    [chat({ ...hello, model: "unknown" }), 404, "model_not_found"],
    [
      chat({ ...hello, messages: [{ role: "user", content: "x".repeat(200) }] }),
      413,
      "request_too_large",
    ],
    [new Request("http://gateway.test/v1/chat/completions"), 405, "method_not_allowed"],
  ];
  for (const [request, status, code] of cases) {
    const response = await app.request(request);
    const body = await response.json();
    assertEquals(response.status, status, code);
    assertEquals(body.error.code, code);
    assert(typeof body.error.message === "string" && body.error.message.length > 0);
    assert(typeof body.error.type === "string");
  }
});

Deno.test("a model outside the key's or its tenant's list gets 403 and reserves nothing", async () => {
  const { app, queue, reserved } = buildApp({ keyModels: ["mock-mini"], tenantModels: ["mock*"] });
  const refusals: Array<[Request, string]> = [
    [chat(hello), "This API key is not allowed to use the model 'mock-gpt'"],
    // Not served either: a key that may not use a model is not told whether it exists.
    [chat({ ...hello, model: "gpt-4o" }), "This organization is not allowed to use the model"],
    [
      new Request("http://gateway.test/v1/embeddings", {
        method: "POST",
        headers: { authorization: `Bearer ${secret.secret}` },
        body: JSON.stringify({ model: "mock-gpt", input: "Hello" }),
      }),
      "This API key",
    ],
    [
      new Request("http://gateway.test/v1/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${secret.secret}` },
        body: JSON.stringify({ model: "mock-gpt", prompt: "Hello" }),
      }),
      "This API key",
    ],
  ];
  for (const [request, message] of refusals) {
    const response = await app.request(request);
    const { error } = await response.json();
    assertEquals(response.status, 403, message);
    assertEquals([error.type, error.code, error.param], [
      "permission_error",
      "model_not_allowed",
      "model",
    ]);
    assertMatch(error.message, new RegExp(`^${message}`));
  }
  assertEquals(reserved.length, 0, "no reservation for a refused model");
  assertEquals(queue.sent.filter((job) => job.task === "billing.settle"), []);

  const allowed = await app.request(chat({ ...hello, model: "mock-mini" }));
  await allowed.text();
  assertEquals(allowed.status, 200);
  assertEquals(reserved.length, 1);
  const models = await (await app.request("/v1/models", {
    headers: { authorization: `Bearer ${secret.secret}` },
  })).json();
  assertEquals(models.data.map((model: { id: string }) => model.id), ["mock-mini"]);
});

Deno.test("with no lists every model is served and listed", async () => {
  const { app } = buildApp();
  const models = await (await app.request("/v1/models", {
    headers: { authorization: `Bearer ${secret.secret}` },
  })).json();
  assertEquals(models.data.map((model: { id: string }) => model.id), ["mock-gpt", "mock-mini"]);
  const response = await app.request(chat(hello));
  await response.text();
  assertEquals(response.status, 200);
});

Deno.test("405 names the allowed methods", async () => {
  const { app } = buildApp();
  const response = await app.request("/v1/models", { method: "DELETE" });
  await response.text();
  assertEquals(response.status, 405);
  assertEquals(response.headers.get("allow"), "GET");
});

Deno.test("readiness reports each check and turns 503 once draining", async () => {
  const ready = await buildApp().app.request("/ready");
  assertEquals(await ready.json(), {
    status: "ready",
    checks: { database: "ok", redis: "not_configured" },
  });
  const draining = await buildApp({ draining: true }).app.request("/ready");
  await draining.text();
  assertEquals(draining.status, 503);
});
