// Idempotency-Key against the real program: on SQLite alone, and on PostgreSQL with Redis shared
// by two instances. The fake upstream counts the calls that reached it.
import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { assert, assertEquals } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { type FakeUpstream, startFakeUpstream } from "./fake_upstream.ts";
import { openTestRedis } from "./redis_testing.ts";
import {
  createTenantWithKey,
  delay,
  type GatewayProcess,
  startGateway,
  waitFor,
} from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-idempotency-tests";
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface Stack extends AsyncDisposable {
  /** The instances serving the API: requests are spread over them. */
  gateways: GatewayProcess[];
  /** How many idempotency keys the store's table and Redis hold. */
  held(): Promise<{ store: number; redis: number }>;
}

type StackKind = { name: string; open(upstream: FakeUpstream): Promise<Stack> };

const env = (upstream: FakeUpstream) => ({
  ADMIN_TOKEN,
  OPENAI_BASE_URL: upstream.url,
  // The shortest retention: what a test leaves behind in Redis goes within a minute.
  IDEMPOTENCY_RETENTION_MS: "60000",
});

const stacks: StackKind[] = [
  {
    name: "sqlite",
    async open(upstream) {
      const gateway = await startGateway({ env: env(upstream) });
      return {
        gateways: [gateway],
        held() {
          const db = new DatabaseSync(join(gateway.dataDir, "gateway.db"), { readOnly: true });
          try {
            const row = db.prepare("SELECT count(*) AS n FROM idempotency_keys").get();
            return Promise.resolve({ store: Number(row?.n), redis: 0 });
          } finally {
            db.close();
          }
        },
        [Symbol.asyncDispose]: () => gateway[Symbol.asyncDispose](),
      };
    },
  },
  {
    name: "postgres+redis",
    async open(upstream) {
      const db = await createDatabase();
      const shared = {
        ...env(upstream),
        DATABASE_URL: db.url,
        REDIS_URL: "redis://127.0.0.1:6379",
        REDIS_KEY_PREFIX: `test${crypto.randomUUID().slice(0, 8)}:`,
      };
      const a = await startGateway({ env: shared });
      const b = await startGateway({ env: shared });
      return {
        gateways: [a, b],
        async held() {
          const sql = postgres(db.url, { max: 1, onnotice: () => {} });
          const redis = await openTestRedis();
          try {
            const [row] = await sql`SELECT count(*)::int AS n FROM idempotency_keys`;
            const keys = await redis.client.keys(`${shared.REDIS_KEY_PREFIX}idem:*`);
            return { store: row.n, redis: keys.length };
          } finally {
            await sql.end();
            await redis[Symbol.asyncDispose]();
          }
        },
        async [Symbol.asyncDispose]() {
          await a[Symbol.asyncDispose]();
          await b[Symbol.asyncDispose]();
          await db[Symbol.asyncDispose]();
        },
      };
    },
  },
];

function post(
  gateway: { url: string },
  key: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], ...body }),
  });
}

const chatCalls = (upstream: FakeUpstream) =>
  upstream.received.filter((request) => request.path === "/v1/chat/completions").length;

/** The tenant's ledger rows once billing has nothing left to do. */
async function ledgerRows(gateway: { url: string }, tenantId: string, atLeast: number) {
  return await waitFor(async () => {
    const queues = await (await fetch(`${gateway.url}/internal/queues`, { headers: ADMIN })).json();
    const usage = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers: ADMIN,
    })).json();
    const idle = queues.depths.billing === 0 && queues.depths.retry === 0;
    return idle && usage.requests >= atLeast ? usage.requests as number : undefined;
  }, { what: `${atLeast} ledger rows settled` });
}

for (const stack of stacks) {
  Deno.test(`${stack.name}: 50 concurrent retries of one Idempotency-Key make one upstream call and one ledger row, and all get the same answer`, async () => {
    await using upstream = startFakeUpstream({ delayMs: 400, numberedIds: true });
    await using opened = await stack.open(upstream);
    const { gateways } = opened;
    const { key, tenantId } = await createTenantWithKey(gateways[0], ADMIN_TOKEN);
    const responses = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          post(gateways[i % gateways.length], key, { model: "upstream-model" }, {
            "idempotency-key": "order-42",
          }),
      ),
    );
    const bodies = await Promise.all(responses.map((response) => response.text()));
    assertEquals(responses.map((r) => r.status), Array(50).fill(200));
    assertEquals(new Set(bodies).size, 1, "every retry got the first answer");
    assertEquals(JSON.parse(bodies[0]).id, "chatcmpl-fake-1");
    const replayed = responses.filter((r) => r.headers.get("idempotent-replayed") === "true");
    assertEquals(replayed.length, 49);
    assertEquals(chatCalls(upstream), 1, "one call reached the upstream");
    assertEquals(await ledgerRows(gateways[0], tenantId, 1), 1, "billed once");
    const lines = await waitFor(() => {
      const found = gateways.flatMap((gw) => gw.records()).filter((record) =>
        record.message === "request_completed" && record.path === "/v1/chat/completions"
      );
      return found.length === 50 ? found : undefined;
    }, { what: "50 request_completed lines" });
    assertEquals(lines.filter((line) => line.idempotent_replayed === true).length, 49);
    const counted = await Promise.all(gateways.map(async (gw) => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      const count = (outcome: string) =>
        Number(
          new RegExp(`^gateway_idempotency_requests_total\\{outcome="${outcome}"\\} (\\d+)$`, "m")
            .exec(text)?.[1] ?? 0,
        );
      return { claimed: count("claimed"), replayed: count("replayed") };
    }));
    assertEquals(counted.reduce((sum, c) => sum + c.claimed, 0), 1, "one claim, counted");
    assertEquals(counted.reduce((sum, c) => sum + c.replayed, 0), 49, "49 replays, counted");
    const held = await opened.held();
    assertEquals(held, stack.name === "sqlite" ? { store: 1, redis: 0 } : { store: 0, redis: 1 });
  });

  Deno.test(`${stack.name}: a retry of a stream gets the same event sequence, from one upstream call`, async () => {
    await using upstream = startFakeUpstream({ chunks: 4, chunkDelayMs: 30, numberedIds: true });
    await using opened = await stack.open(upstream);
    const gateways = opened.gateways;
    const { key, tenantId } = await createTenantWithKey(gateways[0], ADMIN_TOKEN);
    const body = { model: "upstream-model", stream: true };
    const headers = { "idempotency-key": "stream-7" };
    const first = await post(gateways[0], key, body, headers);
    assertEquals(first.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const events = await first.text();
    assert(events.includes("part3") && events.endsWith("data: [DONE]\n\n"), events);
    const retry = await post(gateways.at(-1)!, key, body, headers);
    assertEquals(retry.status, 200);
    assertEquals(retry.headers.get("idempotent-replayed"), "true");
    assertEquals(retry.headers.get("content-type"), first.headers.get("content-type"));
    assertEquals(await retry.text(), events, "the same events, in the same order");
    assertEquals(chatCalls(upstream), 1);
    assertEquals(await ledgerRows(gateways[0], tenantId, 1), 1);
  });

  Deno.test(`${stack.name}: the same key with another body is 422, and from another tenant is a request of its own`, async () => {
    await using upstream = startFakeUpstream({ numberedIds: true });
    await using opened = await stack.open(upstream);
    const gateways = opened.gateways;
    const acme = await createTenantWithKey(gateways[0], ADMIN_TOKEN, { name: "acme" });
    const globex = await createTenantWithKey(gateways[0], ADMIN_TOKEN, { name: "globex" });
    const headers = { "idempotency-key": "shared-key" };
    const first = await (await post(gateways[0], acme.key, { model: "upstream-model" }, headers))
      .json();
    const other = await post(gateways.at(-1)!, acme.key, {
      model: "upstream-model",
      max_tokens: 5,
    }, headers);
    assertEquals(other.status, 422);
    const { error } = await other.json();
    assertEquals([error.type, error.code], ["invalid_request_error", "idempotency_key_reused"]);
    const bad = await post(gateways[0], acme.key, { model: "upstream-model" }, {
      "idempotency-key": "with space",
    });
    assertEquals([bad.status, (await bad.json()).error.code], [400, "invalid_idempotency_key"]);

    const theirs = await post(gateways.at(-1)!, globex.key, { model: "upstream-model" }, headers);
    assertEquals(theirs.headers.get("idempotent-replayed"), null);
    assert((await theirs.json()).id !== first.id, "another tenant's request ran on its own");
    assertEquals(chatCalls(upstream), 2);
    assertEquals(await ledgerRows(gateways[0], acme.tenantId, 1), 1);
    assertEquals(await ledgerRows(gateways[0], globex.tenantId, 1), 1);
    // Nothing arrives late: the 422 and the 400 were never billed.
    await delay(200);
    assertEquals(await ledgerRows(gateways[0], acme.tenantId, 1), 1);
  });
}

Deno.test("sqlite: a key held by a process that was killed mid-request is free after its lease, on restart", async () => {
  await using upstream = startFakeUpstream({ delayMs: 3000, numberedIds: true });
  const dataDir = await Deno.makeTempDir({ prefix: "gateway-idempotency-" });
  const options = { dataDir, env: { ...env(upstream), IDEMPOTENCY_LEASE_MS: "1000" } };
  try {
    const first = await startGateway(options);
    const { key } = await createTenantWithKey(first, ADMIN_TOKEN);
    const headers = { "idempotency-key": "crash-1" };
    const lost = post(first, key, { model: "upstream-model" }, headers).catch(() => undefined);
    await waitFor(() => chatCalls(upstream) === 1 || undefined, { what: "the upstream called" });
    await first.stop("SIGKILL");
    await lost;
    await using second = await startGateway(options);
    upstream.behaviour = { numberedIds: true };
    const retry = await post(second, key, { model: "upstream-model" }, headers);
    assertEquals(retry.status, 200);
    assertEquals(retry.headers.get("idempotent-replayed"), null, "the retry ran afresh");
    assertEquals((await retry.json()).id, "chatcmpl-fake-2");
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test("postgres+redis: a retry waiting on an instance that was killed mid-request runs itself once the lease lapses", async () => {
  await using upstream = startFakeUpstream({ delayMs: 3000, numberedIds: true });
  await using db = await createDatabase();
  const shared = {
    ...env(upstream),
    DATABASE_URL: db.url,
    REDIS_URL: "redis://127.0.0.1:6379",
    REDIS_KEY_PREFIX: `test${crypto.randomUUID().slice(0, 8)}:`,
    IDEMPOTENCY_LEASE_MS: "1000",
  };
  await using a = await startGateway({ env: shared });
  await using b = await startGateway({ env: shared });
  const { key } = await createTenantWithKey(a, ADMIN_TOKEN);
  const headers = { "idempotency-key": "crash-2" };
  const lost = post(a, key, { model: "upstream-model" }, headers).catch(() => undefined);
  await waitFor(() => chatCalls(upstream) === 1 || undefined, { what: "the upstream called" });
  const waiting = post(b, key, { model: "upstream-model" }, headers);
  await a.stop("SIGKILL");
  await lost;
  upstream.behaviour = { numberedIds: true };
  const retry = await waiting;
  assertEquals(retry.status, 200);
  assertEquals(retry.headers.get("idempotent-replayed"), null, "the waiting retry ran itself");
  assertEquals((await retry.json()).id, "chatcmpl-fake-2");
  assertEquals(chatCalls(upstream), 2);
});
