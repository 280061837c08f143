import { assert, assertEquals } from "./assert.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import { createTenantWithKey, delay, startGateway } from "./gateway_process.ts";
import { SqliteStore } from "../src/store/mod.ts";
import { createDatabase } from "./databases.ts";

const ADMIN_TOKEN = "admin-token-for-money-tests";
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
// Output tokens at $0.10 each and max_tokens 10: every request reserves exactly $1.
const PRICES = JSON.stringify({
  "mock-gpt": { input_per_1m_tokens: 0, output_per_1m_tokens: 100_000 },
  "upstream-model": { input_per_1m_tokens: 0, output_per_1m_tokens: 100_000 },
});

function chat(url: string, key: string, body: Record<string, unknown>, signal?: AbortSignal) {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], ...body }),
    signal,
  });
}

async function usage(url: string, tenantId: string) {
  return await (await fetch(`${url}/internal/tenants/${tenantId}/usage`, { headers: ADMIN }))
    .json();
}

async function tenant(url: string, tenantId: string) {
  return await (await fetch(`${url}/internal/tenants/${tenantId}`, { headers: ADMIN })).json();
}

/** Waits until the billing queue has settled `requests` requests of the tenant. */
async function settled(url: string, tenantId: string, requests: number) {
  for (let i = 0; i < 200; i++) {
    const totals = await usage(url, tenantId);
    if (totals.requests >= requests) return totals;
    await delay(50);
  }
  throw new Error(`fewer than ${requests} requests were settled`);
}

/** The environment of gateways sharing PostgreSQL at `databaseUrl` and Redis, on a fresh prefix. */
function sharedStack(databaseUrl: string): Record<string, string> {
  return {
    ADMIN_TOKEN,
    MODEL_PRICES: PRICES,
    DATABASE_URL: databaseUrl,
    REDIS_URL: "redis://127.0.0.1:6379",
    REDIS_KEY_PREFIX: `test${crypto.randomUUID().slice(0, 8)}:`,
  };
}

/**
 * Sends 100 concurrent requests of $1 worst case each, spread over `gateways`, against a balance
 * of $10, and checks what a user would: at least 10 served, the rest refused for quota, one ledger
 * row per served request, and a balance that never went below zero and equals $10 minus the
 * ledger's sum.
 */
async function hundredAgainstTen(gateways: Array<{ url: string }>, key: string, tenantId: string) {
  const responses = await Promise.all(
    Array.from(
      { length: 100 },
      (_, i) => chat(gateways[i % gateways.length].url, key, { model: "mock-gpt", max_tokens: 10 }),
    ),
  );
  const bodies = await Promise.all(responses.map((r) => r.json()));
  const ok = responses.filter((r) => r.status === 200).length;
  const refused = bodies.filter((body) => body.error?.code === "insufficient_quota").length;
  assertEquals(ok + refused, 100);
  assert(ok >= 10, `at least the 10 covered requests pass: ${ok}`);
  const totals = await settled(gateways[0].url, tenantId, ok);
  assertEquals(totals.requests, ok, "one ledger row per completed request");
  const after = await tenant(gateways.at(-1)!.url, tenantId);
  assert(after.balance_usd >= 0, `the balance never goes below zero: ${after.balance_usd}`);
  assertEquals(
    Math.round((10 - totals.cost_usd) * 1e6),
    Math.round(after.balance_usd * 1e6),
    "balance equals initial minus the ledger's sum",
  );
}

Deno.test("100 concurrent requests against a balance that covers 10 never overspend", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN, MODEL_PRICES: PRICES } });
  const { key, tenantId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 10 });
  await hundredAgainstTen([gw], key, tenantId);
  const warning = await gw.waitForRecord((r) => r.message === "quota_exceeded");
  assertEquals(warning.level, "WARNING");
});

Deno.test("with reservations held in Redis, two gateways never overspend one balance together", async () => {
  await using db = await createDatabase();
  // A burst on a cold gateway loads every script and the funds at once: on a loaded machine that
  // can outlast the default 250 ms, which would be a 503, not what this test is about.
  const env = { ...sharedStack(db.url), QUOTA_HOLDS: "redis", REDIS_TIMEOUT_MS: "5000" };
  await using a = await startGateway({ env });
  await using b = await startGateway({ env });
  const { key, tenantId } = await createTenantWithKey(a, ADMIN_TOKEN, { balance_usd: 10 });
  await hundredAgainstTen([a, b], key, tenantId);

  // A top-up on one instance is spendable on the other at once.
  const short = await chat(b.url, key, { model: "mock-gpt", max_tokens: 100 });
  assertEquals(short.status, 429, "$10 of output tokens is more than is left");
  await short.body?.cancel();
  const credit = await fetch(`${a.url}/internal/tenants/${tenantId}/credits`, {
    method: "POST",
    headers: ADMIN,
    body: JSON.stringify({ amount_usd: 20 }),
  });
  assertEquals(credit.status, 200);
  await credit.body?.cancel();
  const topped = await chat(b.url, key, { model: "mock-gpt", max_tokens: 100 });
  assertEquals(topped.status, 200, "the top-up is held in Redis too");
  await topped.body?.cancel();
});

Deno.test("a reused trace id cannot buy a free request; one W3C trace may span many", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN, MODEL_PRICES: PRICES } });
  const { key, tenantId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 50 });
  const send = (headers: Record<string, string>) =>
    fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body: JSON.stringify({
        model: "mock-gpt",
        max_tokens: 10,
        messages: [{ role: "user", content: "Hi" }],
      }),
    });
  const first = await send({ "x-trace-id": "client-trace-1" });
  assertEquals(first.status, 200);
  await first.body?.cancel();
  await settled(gw.url, tenantId, 1);
  const reused = await send({ "x-trace-id": "client-trace-1" });
  assertEquals(reused.status, 409);
  assertEquals((await reused.json()).error.code, "duplicate_trace_id");
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  for (let i = 0; i < 3; i++) {
    const response = await send({ traceparent });
    assertEquals(response.status, 200);
    await response.body?.cancel();
  }
  const totals = await settled(gw.url, tenantId, 4);
  assertEquals(totals.requests, 4, "every answered request has its own ledger row");
  const after = await tenant(gw.url, tenantId);
  assertEquals(Math.round((50 - totals.cost_usd) * 1e6), Math.round(after.balance_usd * 1e6));
});

Deno.test("a key's budget is enforced like a balance", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN, MODEL_PRICES: PRICES } });
  const { tenantId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 100 });
  const key = await (await fetch(`${gw.url}/internal/tenants/${tenantId}/keys`, {
    method: "POST",
    headers: ADMIN,
    body: JSON.stringify({ budget_usd: 3 }),
  })).json();
  const statuses = (await Promise.all(
    Array.from({ length: 10 }, () => chat(gw.url, key.key, { model: "mock-gpt", max_tokens: 10 })),
  )).map((r) => (r.body?.cancel(), r.status));
  assert(statuses.filter((s) => s === 200).length >= 3);
  assert(statuses.includes(429), "the budget stops requests past it");
});

Deno.test("streams are billed from the upstream's usage, abandoned streams by an estimate", async () => {
  await using upstream = startFakeUpstream({ chunks: 5, chunkDelayMs: 150 });
  const dataDir = await Deno.makeTempDir({ prefix: "gateway-money-" });
  const gw = await startGateway({
    dataDir,
    env: { ADMIN_TOKEN, MODEL_PRICES: PRICES, OPENAI_BASE_URL: upstream.url },
  });
  let traces: { whole: string; abandoned: string };
  try {
    const { key, tenantId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 50 });
    const whole = await chat(gw.url, key, {
      model: "upstream-model",
      stream: true,
      max_tokens: 10,
    });
    assertEquals(whole.status, 200);
    await whole.text();
    const controller = new AbortController();
    const abandoned = await chat(
      gw.url,
      key,
      { model: "upstream-model", stream: true, max_tokens: 10 },
      controller.signal,
    );
    assertEquals(abandoned.status, 200);
    const reader = abandoned.body!.getReader();
    await reader.read();
    await reader.read();
    controller.abort();
    await reader.cancel().catch(() => {});
    traces = {
      whole: whole.headers.get("x-request-id")!,
      abandoned: abandoned.headers.get("x-request-id")!,
    };
    await settled(gw.url, tenantId, 2);
  } finally {
    assertEquals(await gw.stop(), 0);
  }
  const store = new SqliteStore({ dataDir });
  try {
    const [whole] = await store.listLedger({ traceId: traces.whole });
    assertEquals(whole.estimated, false);
    assertEquals(whole.outputTokens, 7, "the fake upstream's own usage");
    const [abandoned] = await store.listLedger({ traceId: traces.abandoned });
    assertEquals(abandoned.estimated, true, "no usage arrived: billed by an estimate");
    assert(abandoned.outputTokens > 0);
  } finally {
    await store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("usage, audit and queues are visible through the internal API", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN, MODEL_PRICES: PRICES } });
  const { key, keyId, tenantId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 5 });
  const response = await chat(gw.url, key, { model: "mock-gpt", max_tokens: 10 });
  const traceId = response.headers.get("x-request-id")!;
  await response.body?.cancel();
  const totals = await settled(gw.url, tenantId, 1);
  assertEquals(totals.requests, 1);
  assert(totals.output_tokens > 0 && totals.cost_usd > 0);

  let records: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 100 && records.length === 0; i++) {
    const audit = await (await fetch(`${gw.url}/internal/audit?trace_id=${traceId}`, {
      headers: ADMIN,
    })).json();
    records = audit.data;
    if (records.length === 0) await delay(50);
  }
  assertEquals(records.length, 1);
  assertEquals(records[0].actor, keyId);
  assertEquals(records[0].action, "request");
  const byKey = await (await fetch(`${gw.url}/internal/audit?api_key_id=${keyId}`, {
    headers: ADMIN,
  })).json();
  assert(byKey.data.length >= 1);

  const queues = await (await fetch(`${gw.url}/internal/queues`, { headers: ADMIN })).json();
  for (const name of ["default", "billing", "internal", "external", "retry", "dead"]) {
    assertEquals(typeof queues.depths[name], "number", name);
  }
  assert(queues.workers.some((w: { queue: string; alive: boolean }) => w.queue === "billing"));
  assert(queues.tasks["billing.settle"].succeeded >= 1);
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  assert(
    metrics.includes('gateway_queue_jobs_succeeded_total{queue="billing",task="billing.settle"}'),
  );
  assert(metrics.includes('gateway_queue_depth{queue="retry"}'));
});

Deno.test("an API-only instance's requests are billed by a worker-only instance", async () => {
  await using db = await createDatabase();
  const env = sharedStack(db.url);
  await using api = await startGateway({ env: { ...env, RUN_MODE: "api" } });
  await using worker = await startGateway({ env: { ...env, RUN_MODE: "worker" } });
  const notServed = await fetch(`${worker.url}/v1/models`);
  await notServed.body?.cancel();
  assertEquals(notServed.status, 404, "a worker-only instance serves no API");
  const { key, tenantId } = await createTenantWithKey(api, ADMIN_TOKEN, { balance_usd: 5 });
  const response = await chat(api.url, key, { model: "mock-gpt", max_tokens: 10 });
  await response.body?.cancel();
  assertEquals(response.status, 200);
  assertEquals((await settled(api.url, tenantId, 1)).requests, 1);
  const queues = await (await fetch(`${api.url}/internal/queues`, { headers: ADMIN })).json();
  const billing = queues.workers.filter((w: { queue: string; alive: boolean }) =>
    w.queue === "billing" && w.alive
  );
  assert(billing.length >= 1, "the worker instance's billing workers are listed");
});
