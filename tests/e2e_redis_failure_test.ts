import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { createTenantWithKey, freePort, startGateway, waitFor } from "./gateway_process.ts";
import { startPrivateRedis } from "./redis_testing.ts";

const ADMIN_TOKEN = "admin-token-for-redis-failure";
const BODY = JSON.stringify({
  model: "mock-gpt",
  messages: [{ role: "user", content: "Hi" }],
  max_tokens: 5,
});

async function chat(url: string, key: string) {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: BODY,
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("when Redis fails, limits fail open with a warning or closed with 503, never hang", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "gateway-redis-failure-" });
  let redis = await startPrivateRedis({ port, dir });
  try {
    const common = {
      ADMIN_TOKEN,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_KEY_RPM: "1000",
    };
    await using open = await startGateway({ env: common });
    await using closed = await startGateway({
      env: { ...common, RATE_LIMIT_REDIS_FAILURE: "fail-closed" },
    });
    const openKey = (await createTenantWithKey(open, ADMIN_TOKEN)).key;
    const closedKey = (await createTenantWithKey(closed, ADMIN_TOKEN)).key;
    await waitFor(
      async () =>
        (await (await fetch(`${open.url}/ready`)).json()).checks.redis === "ok" || undefined,
      { what: "ready on Redis" },
    );
    assertEquals((await chat(open.url, openKey)).status, 200);
    assertEquals((await chat(closed.url, closedKey)).status, 200);

    redis.kill("SIGKILL");
    await redis.status;

    const started = performance.now();
    const during = await chat(open.url, openKey);
    assertEquals(during.status, 200, "fail-open keeps serving, limited in memory");
    assert(performance.now() - started < 5000, "a dead Redis never makes a request hang");
    const refused = await chat(closed.url, closedKey);
    assertEquals(refused.status, 503);
    assertEquals(refused.body.error.code, "rate_limiter_unavailable");

    const degraded = await open.waitForRecord((r) => r.message === "rate_limiter_degraded");
    assertEquals(degraded.level, "WARNING");
    const ready = await fetch(`${open.url}/ready`);
    const readiness = await ready.json();
    assertEquals(ready.status, 503);
    assertEquals(readiness.checks.redis, "failing");
    const metrics = await (await fetch(`${open.url}/metrics`)).text();
    assertStringIncludes(metrics, "redis_connected 0");
    const queues = await fetch(`${open.url}/internal/queues`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assertEquals(queues.status, 503, "the queues' page says Redis is away, not that it broke");
    assertEquals((await queues.json()).error.code, "queue_unavailable");

    redis = await startPrivateRedis({ port, dir });
    await waitFor(
      async () =>
        (await (await fetch(`${open.url}/ready`)).json()).checks.redis === "ok" || undefined,
      { what: "ready again once Redis is back" },
    );
    await waitFor(
      async () => (await chat(closed.url, closedKey)).status === 200 || undefined,
      { what: "serving again with fail-closed" },
    );
  } finally {
    try {
      redis.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    await redis.status;
    await Deno.remove(dir, { recursive: true });
  }
});
