/**
 * End-to-end tests of model allowlists: the real gateway in front of a fake upstream, on the
 * embedded stack (SQLite, reservations in memory) and on PostgreSQL with Redis (reservations in
 * the database, then in Redis), driven over HTTP.
 */
import { assert, assertEquals } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import { delay, type GatewayProcess, startGateway } from "./gateway_process.ts";
import { openTestRedis, REDIS_URL } from "./redis_testing.ts";
import { SqliteStore, type Store } from "../src/store/mod.ts";
import { PostgresStore } from "../src/store/postgres.ts";

const ADMIN_TOKEN = "admin-token-for-allowlist-tests";
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
const MODELS = "gpt-4o,gpt-4o-mini,o3-mini,text-embedding-3-small";
// Output tokens at $0.10 each and max_tokens 10: a gpt-4o-mini request reserves exactly $1.
const PRICES = JSON.stringify({
  "gpt-4o-mini": { input_per_1m_tokens: 0, output_per_1m_tokens: 100_000 },
});

/** A stack to run on: its environment, and how to read its store once the gateway stopped. */
interface Stack {
  name: string;
  setUp(): Promise<
    { env: Record<string, string>; openStore(gw: GatewayProcess): Store } & AsyncDisposable
  >;
}

const embedded: Stack = {
  name: "embedded SQLite",
  setUp: () =>
    Promise.resolve({
      env: {},
      openStore: (gw) => new SqliteStore({ dataDir: gw.dataDir }),
      [Symbol.asyncDispose]: () => Promise.resolve(),
    }),
};

function shared(holds: "store" | "redis"): Stack {
  return {
    name: `PostgreSQL and Redis, reservations in ${holds === "store" ? "the database" : "Redis"}`,
    async setUp() {
      const database = await createDatabase();
      const redis = await openTestRedis();
      // The gateway takes a prefix of up to 32 characters, shorter than the test helper's own.
      const prefix = `test${crypto.randomUUID().slice(0, 8)}:`;
      return {
        env: {
          DATABASE_URL: database.url,
          REDIS_URL,
          REDIS_KEY_PREFIX: prefix,
          QUOTA_HOLDS: holds,
        },
        openStore: () => new PostgresStore({ url: database.url }),
        async [Symbol.asyncDispose]() {
          for await (const keys of redis.client.scanIterator({ MATCH: `${prefix}*` })) {
            if (keys.length > 0) await redis.client.del(keys);
          }
          await redis[Symbol.asyncDispose]();
          await database[Symbol.asyncDispose]();
        },
      };
    },
  };
}

async function admin(gw: GatewayProcess, method: string, path: string, body?: unknown) {
  const response = await fetch(`${gw.url}/internal${path}`, {
    method,
    headers: ADMIN,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** POSTs to a model route with `key`; the status, the error body if any, and the trace id. */
async function call(gw: GatewayProcess, key: string, path: string, body: Record<string, unknown>) {
  const response = await fetch(`${gw.url}/v1${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const error = response.ok ? undefined : JSON.parse(text).error;
  return { status: response.status, error, traceId: response.headers.get("x-request-id")! };
}

function chat(gw: GatewayProcess, key: string, model: string, extra: Record<string, unknown> = {}) {
  const messages = [{ role: "user", content: "Hi" }];
  return call(gw, key, "/chat/completions", { model, messages, max_tokens: 10, ...extra });
}

async function listedModels(gw: GatewayProcess, key: string): Promise<string[]> {
  const response = await fetch(`${gw.url}/v1/models`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assertEquals(response.status, 200);
  return (await response.json()).data.map((model: { id: string }) => model.id);
}

function assertNotAllowed(
  answer: { status: number; error?: Record<string, unknown> },
  whose: "This API key" | "This organization",
  model: string,
): void {
  assertEquals(answer.status, 403, `${model} is refused`);
  assertEquals(answer.error, {
    message: `${whose} is not allowed to use the model '${model}'`,
    type: "permission_error",
    code: "model_not_allowed",
    param: "model",
  });
}

async function newKey(gw: GatewayProcess, tenantId: string, body: Record<string, unknown>) {
  const created = await admin(gw, "POST", `/tenants/${tenantId}/keys`, body);
  assertEquals(created.status, 201);
  return created.body as { id: string; key: string; models: string[] | null };
}

/** Waits until the ledger holds `requests` requests of the tenant; its usage. */
async function settled(gw: GatewayProcess, tenantId: string, requests: number) {
  for (let i = 0; i < 200; i++) {
    const usage = (await admin(gw, "GET", `/tenants/${tenantId}/usage`)).body;
    if (usage.requests >= requests) return usage;
    await delay(50);
  }
  throw new Error(`fewer than ${requests} requests were settled`);
}

for (const stack of [embedded, shared("store"), shared("redis")]) {
  Deno.test(`${stack.name}: a model outside the key's list gets 403 and costs nothing: no upstream call, no money, no rate limit, no ledger row`, async () => {
    await using upstream = startFakeUpstream();
    await using setup = await stack.setUp();
    await using gw = await startGateway({
      env: {
        ADMIN_TOKEN,
        OPENAI_BASE_URL: upstream.url,
        OPENAI_MODELS: MODELS,
        MODEL_PRICES: PRICES,
        ...setup.env,
      },
    });
    // A balance of nothing and one request a minute: a refused model that reached the quota or
    // the limits would be told so, and would leave the allowed request below without its turn.
    const tenant = (await admin(gw, "POST", "/tenants", { name: "acme", balance_usd: 0 })).body;
    const key = await newKey(gw, tenant.id, { models: ["gpt-4o-mini"], rpm_limit: 1 });
    assertEquals(key.models, ["gpt-4o-mini"]);

    const refused = [
      await chat(gw, key.key, "gpt-4o"),
      await chat(gw, key.key, "gpt-4o", { stream: true }),
      await call(gw, key.key, "/completions", { model: "gpt-4o", prompt: "Hi", max_tokens: 10 }),
      await call(gw, key.key, "/embeddings", { model: "text-embedding-3-small", input: "Hi" }),
    ];
    assertNotAllowed(refused[0], "This API key", "gpt-4o");
    assertNotAllowed(refused[1], "This API key", "gpt-4o");
    assertNotAllowed(refused[2], "This API key", "gpt-4o");
    assertNotAllowed(refused[3], "This API key", "text-embedding-3-small");
    // Whether a model the key may not use exists is not told either.
    const unknown = await chat(gw, key.key, "no-such-model");
    assertNotAllowed(unknown, "This API key", "no-such-model");
    assertEquals(upstream.received.length, 0, "no refused request reached the upstream");
    assertEquals(await listedModels(gw, key.key), ["gpt-4o-mini"]);

    const broke = await chat(gw, key.key, "gpt-4o-mini");
    assertEquals([broke.status, broke.error?.code], [429, "insufficient_quota"]);
    assertEquals(
      (await admin(gw, "POST", `/tenants/${tenant.id}/credits`, { amount_usd: 1 })).status,
      200,
    );
    const allowed = await chat(gw, key.key, "gpt-4o-mini");
    assertEquals(allowed.status, 200, "the refused requests took no turn of the rate limit");
    assertEquals(upstream.received.map((request) => request.body?.model), ["gpt-4o-mini"]);

    const usage = await settled(gw, tenant.id, 1);
    assertEquals(usage.requests, 1);
    const after = (await admin(gw, "GET", `/tenants/${tenant.id}`)).body;
    assertEquals(Math.round(after.balance_usd * 1e6), Math.round((1 - usage.cost_usd) * 1e6));
    assertEquals(await gw.stop(), 0);

    const store = setup.openStore(gw);
    try {
      const ledger = await store.listLedger({ tenantId: tenant.id });
      assertEquals(ledger.map((row) => row.traceId), [allowed.traceId]);
      for (const { traceId } of [...refused, unknown]) {
        assertEquals(await store.listLedger({ traceId }), [], `no ledger row for ${traceId}`);
      }
      assertEquals((await store.getTenant(tenant.id))?.reservedMicros, 0);
      assertEquals((await store.listApiKeys(tenant.id)).map((each) => each.reservedMicros), [0]);
    } finally {
      await store.close();
    }
  });
}

for (const stack of [embedded, shared("redis")]) {
  Deno.test(`${stack.name}: a tenant's list restricts every one of its keys, and a change applies at once`, async () => {
    await using upstream = startFakeUpstream();
    await using setup = await stack.setUp();
    await using gw = await startGateway({
      env: { ADMIN_TOKEN, OPENAI_BASE_URL: upstream.url, OPENAI_MODELS: MODELS, ...setup.env },
    });
    const tenant = await admin(gw, "POST", "/tenants", {
      name: "acme",
      balance_usd: 100,
      models: ["gpt-4o*"],
    });
    assertEquals(tenant.body.models, ["gpt-4o*"]);
    const open = await newKey(gw, tenant.body.id, {});
    const narrow = await newKey(gw, tenant.body.id, { models: ["gpt-4o-mini", "o3-mini"] });

    assertEquals(await listedModels(gw, open.key), ["gpt-4o", "gpt-4o-mini"]);
    assertEquals(await listedModels(gw, narrow.key), ["gpt-4o-mini"], "both lists apply");
    assertNotAllowed(await chat(gw, open.key, "o3-mini"), "This organization", "o3-mini");
    assertNotAllowed(await chat(gw, narrow.key, "o3-mini"), "This organization", "o3-mini");
    assertNotAllowed(await chat(gw, narrow.key, "gpt-4o"), "This API key", "gpt-4o");
    const embedding = await call(gw, open.key, "/embeddings", {
      model: "text-embedding-3-small",
      input: "Hi",
    });
    assertNotAllowed(embedding, "This organization", "text-embedding-3-small");
    assertEquals((await chat(gw, open.key, "gpt-4o")).status, 200);
    assertEquals((await chat(gw, narrow.key, "gpt-4o-mini")).status, 200);
    assertEquals(upstream.received.map((request) => request.body?.model), [
      "gpt-4o",
      "gpt-4o-mini",
    ]);

    const cleared = await admin(gw, "PATCH", `/tenants/${tenant.body.id}`, { models: null });
    assertEquals([cleared.status, cleared.body.models], [200, null]);
    assertEquals((await chat(gw, open.key, "o3-mini")).status, 200, "no list: every model");
    assertEquals((await chat(gw, narrow.key, "o3-mini")).status, 200);
    assertEquals(await listedModels(gw, open.key), MODELS.split(","));

    const emptied = await admin(gw, "PATCH", `/tenants/${tenant.body.id}`, { models: [] });
    assertEquals(emptied.body.models, []);
    assertEquals(await listedModels(gw, open.key), [], "an empty list allows no model");
    assertNotAllowed(await chat(gw, open.key, "gpt-4o"), "This organization", "gpt-4o");

    const invalid = await admin(gw, "PATCH", `/keys/${narrow.id}`, { models: ["gpt-*-mini"] });
    assertEquals([invalid.status, invalid.body.error.param], [400, "models.0"]);
    const keys = (await admin(gw, "GET", `/tenants/${tenant.body.id}/keys`)).body.data;
    assert(Array.isArray(keys));
    assertEquals(keys.map((each: { models: unknown }) => each.models), [
      null,
      ["gpt-4o-mini", "o3-mini"],
    ]);
  });
}
