import { assert, assertEquals, assertMatch } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-limit-tests";
const BODY = JSON.stringify({
  model: "mock-gpt",
  messages: [{ role: "user", content: "Hi" }],
  max_tokens: 10,
});

function chat(url: string, key: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: BODY,
  });
}

async function burst(urls: string[], key: string, count: number) {
  const started = performance.now();
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) => chat(urls[i % urls.length], key)),
  );
  const statuses = responses.map((r) => r.status);
  const refused = responses.find((r) => r.status === 429);
  const refusedHeaders = refused ? new Headers(refused.headers) : undefined;
  const bodies = await Promise.all(responses.map((r) => r.json()));
  const elapsedMs = performance.now() - started;
  return {
    statuses,
    refusedHeaders,
    bodies,
    allowedHeaders: responses.find((r) => r.ok)?.headers,
    elapsedMs,
  };
}

/**
 * Asserts a burst got exactly `limit` requests through: GCRA gives a minute's budget at once and
 * then one request per minute/limit, so a burst slowed down by a loaded machine may fairly earn
 * one more per interval that passed while it ran.
 */
function assertExactlyLimited(statuses: number[], limit: number, elapsedMs: number): void {
  const allowed = statuses.filter((s) => s === 200).length;
  const earned = Math.floor(elapsedMs / (60_000 / limit));
  assert(
    allowed >= limit && allowed <= limit + earned,
    `${allowed} allowed of ${statuses.length}, limit ${limit}, burst took ${
      Math.round(elapsedMs)
    } ms`,
  );
  assertEquals(statuses.filter((s) => s === 429).length, statuses.length - allowed);
}

async function patchKey(url: string, keyId: string, body: unknown) {
  const response = await fetch(`${url}/internal/keys/${keyId}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assertEquals(response.status, 200);
  return await response.json();
}

Deno.test("a burst gets exactly the key's requests per minute, then 429 with OpenAI's headers", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN } });
  const { key, keyId } = await createTenantWithKey(gw, ADMIN_TOKEN);
  const updated = await patchKey(gw.url, keyId, { rpm_limit: 10 });
  assertEquals(updated.rpm_limit, 10);

  const { statuses, refusedHeaders, bodies, allowedHeaders, elapsedMs } = await burst(
    [gw.url],
    key,
    30,
  );
  assertExactlyLimited(statuses, 10, elapsedMs);
  const refusedCount = statuses.filter((s) => s === 429).length;
  assertEquals(allowedHeaders?.get("x-ratelimit-limit-requests"), "10");
  assert(refusedHeaders);
  assertMatch(refusedHeaders.get("retry-after") ?? "", /^[1-9]\d*$/);
  assertEquals(refusedHeaders.get("x-ratelimit-limit-requests"), "10");
  assertEquals(refusedHeaders.get("x-ratelimit-remaining-requests"), "0");
  assertMatch(refusedHeaders.get("x-ratelimit-reset-requests") ?? "", /\d+(ms|s|m)/);
  const refusal = bodies.find((b) => b.error)!;
  assertEquals(refusal.error.type, "rate_limit_error");
  assertEquals(refusal.error.code, "rate_limit_requests");

  // Log lines go out in batches: wait until every refusal's line is there.
  const warnings = await waitFor(() => {
    const found = gw.records().filter((r) => r.message === "rate_limit_exceeded");
    return found.length >= refusedCount ? found : undefined;
  }, { what: "every refusal logged", timeoutMs: 10_000 });
  assertEquals(warnings.length, refusedCount);
  assert(warnings.every((r) => r.level === "WARNING" && r.scope === "key" && r.trace_id));
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  assertMatch(
    metrics,
    new RegExp(`gateway_rate_limit_hits_total\\{scope="key",kind="requests"\\} ${refusedCount}\\b`),
  );
  assertMatch(
    metrics,
    new RegExp(
      `gateway_request_total\\{path="/v1/chat/completions",method="POST",status="429"\\} ${refusedCount}\\b`,
    ),
  );
});

Deno.test("a tenant's limit is shared by its keys and a token limit counts estimates", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN, RATE_LIMIT_TENANT_RPM: "6" } });
  const first = await createTenantWithKey(gw, ADMIN_TOKEN);
  const second = await fetch(`${gw.url}/internal/tenants/${first.tenantId}/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "second", tpm_limit: 100 }),
  }).then((r) => r.json());
  const a = await burst([gw.url], first.key, 4);
  const b = await burst([gw.url], second.key, 4);
  assertEquals([...a.statuses, ...b.statuses].filter((s) => s === 200).length, 6);
  assertEquals(b.bodies.find((body) => body.error)?.error.code, "rate_limit_requests");

  // Each request is estimated at about 21 tokens (prompt and max_tokens 10): 100 per minute
  // lets four through, and a fresh tenant's key shows it.
  const other = await createTenantWithKey(gw, ADMIN_TOKEN, { name: "tokens" });
  await patchKey(gw.url, other.keyId, { tpm_limit: 100 });
  const tokens = await burst([gw.url], other.key, 8);
  const allowed = tokens.statuses.filter((s) => s === 200).length;
  assert(allowed >= 4 && allowed <= 5, `allowed ${allowed} of 8 under 100 tokens per minute`);
  assertEquals(tokens.bodies.find((body) => body.error)?.error.code, "rate_limit_tokens");
  assertEquals(tokens.refusedHeaders?.get("x-ratelimit-limit-tokens"), "100");
});

// With reservations held in Redis too, a request's reservation and its limits are one script.
for (const holds of ["store", "redis"]) {
  Deno.test(`two gateways sharing Redis enforce one limit together (reservations held in ${holds})`, async () => {
    await using db = await createDatabase();
    const env = {
      ADMIN_TOKEN,
      REDIS_URL: "redis://127.0.0.1:6379",
      REDIS_KEY_PREFIX: `test${crypto.randomUUID().slice(0, 8)}:`,
      DATABASE_URL: db.url,
      QUOTA_HOLDS: holds,
      // A loaded test machine must not make the limiter fall back to per-instance memory.
      REDIS_TIMEOUT_MS: "5000",
    };
    await using a = await startGateway({ env });
    await using b = await startGateway({ env });
    await waitForRedis(a.url);
    await waitForRedis(b.url);
    const { key, keyId, tenantId } = await createTenantWithKey(a, ADMIN_TOKEN);
    await patchKey(a.url, keyId, { rpm_limit: 10 });
    const { statuses, elapsedMs } = await burst([a.url, b.url], key, 30);
    assertExactlyLimited(statuses, 10, elapsedMs);
    await new Promise((resolve) => setTimeout(resolve, 200)); // log lines go out in batches
    for (const gateway of [a, b]) {
      const degraded = gateway.records().filter((r) => r.message === "rate_limiter_degraded");
      assertEquals(degraded.length, 0, "both instances used Redis throughout");
    }
    // Only the allowed requests are billed, and the balance is what the ledger says.
    const allowed = statuses.filter((s) => s === 200).length;
    await assertBilled(a.url, tenantId, allowed);
  });
}

/** Waits until the tenant's usage shows `requests`, then checks the balance agrees with it. */
async function assertBilled(url: string, tenantId: string, requests: number): Promise<void> {
  const read = async (path: string) => {
    const response = await fetch(`${url}/internal/tenants/${tenantId}${path}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    return await response.json();
  };
  const usage = await waitFor(async () => {
    const body = await read("/usage");
    return body.requests === requests ? body : undefined;
  }, { what: `${requests} requests billed` });
  const tenant = await read("");
  assert(usage.cost_usd > 0);
  assertEquals(Math.round((tenant.balance_usd + usage.cost_usd) * 1e6), 10_000_000);
}

async function waitForRedis(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ready = await (await fetch(`${url}/ready`)).json();
    if (ready.checks?.redis === "ok") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("Redis never became ready");
}
