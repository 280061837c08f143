// What only the Redis limiter must do: share limits across instances, survive a lost script
// cache, keep its keys on one cluster slot and expiring, and never wait on Redis for long.
import { createClient } from "redis";
import { assert, assertEquals, assertMatch, assertRejects } from "../../tests/assert.ts";
import type { RedisConnection } from "../redis/mod.ts";
import { RedisRateLimiter } from "./redis.ts";
import { fakeClock, openTestRedis, subject } from "./_test_utils.ts";

Deno.test("two gateways on their own connections enforce one limit together", async () => {
  await using redis = await openTestRedis();
  const clock = fakeClock();
  const [one, two] = [redis.client, await redis.connect()].map((connection) =>
    new RedisRateLimiter({
      redis: connection,
      prefix: redis.prefix,
      timeoutMs: 2000,
      now: clock.now,
    })
  );
  const who = subject({ key: { rpm: 10 } });
  const decisions = await Promise.all(
    Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? one : two).check(who, 0)),
  );
  assertEquals(decisions.filter((decision) => decision.allowed).length, 10);
});

Deno.test("checks go on after Redis lost its scripts (SCRIPT FLUSH)", async () => {
  await using redis = await openTestRedis();
  const limiter = new RedisRateLimiter({
    redis: redis.client,
    prefix: redis.prefix,
    timeoutMs: 2000,
  });
  const who = subject({ key: { rpm: 3, tpm: 1000 } });
  assert((await limiter.check(who, 100)).allowed);
  await redis.client.scriptFlush();
  assert((await limiter.check(who, 100)).allowed);
  await redis.client.scriptFlush();
  await limiter.settleTokens(who, -100);
  const third = await limiter.check(who, 100);
  assert(third.allowed);
  assertEquals(third.state.remainingRequests, 0);
  assertEquals(third.state.remainingTokens, 800);
});

Deno.test("token corrections of one subject within the delay reach Redis as one call", async () => {
  await using redis = await openTestRedis();
  let scripts = 0;
  const counting = new Proxy(redis.client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === "evalSha") {
        return (...args: Parameters<RedisConnection["evalSha"]>) => {
          scripts++;
          return target.evalSha(...args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const limiter = new RedisRateLimiter({
    redis: counting,
    prefix: redis.prefix,
    timeoutMs: 2000,
    now: fakeClock().now,
  });
  const who = subject({ key: { tpm: 1000 } });
  assert((await limiter.check(who, 600)).allowed);
  scripts = 0;
  await Promise.all([-100, -200, -100].map((delta) => limiter.settleTokens(who, delta)));
  assertEquals(scripts, 1);
  // 600 − 400 = 200 used: 800 more fit, 801 do not.
  assertEquals((await limiter.check(who, 801)).allowed, false);
  assertEquals((await limiter.check(who, 800)).state.remainingTokens, 0);
});

Deno.test("a token correction still waiting when the connection is closed on purpose is dropped quietly", async () => {
  await using redis = await openTestRedis();
  const connection = await redis.connect();
  const limiter = new RedisRateLimiter({
    redis: connection,
    prefix: redis.prefix,
    timeoutMs: 2000,
    settleDelayMs: 50,
  });
  const settling = limiter.settleTokens(subject({ key: { tpm: 1000 } }), -10);
  await connection.close();
  await settling;
});

Deno.test("a tenant's keys share one hash tag and expire once drained", async () => {
  await using redis = await openTestRedis();
  const limiter = new RedisRateLimiter({
    redis: redis.client,
    prefix: redis.prefix,
    timeoutMs: 2000,
  });
  const who = subject({ tenant: { rpm: 100, tpm: 10_000 }, key: { rpm: 10, tpm: 1000 } }, {
    tenantId: "ten_a",
    apiKeyId: "key_b",
  });
  assert((await limiter.check(who, 500)).allowed);
  const keys: string[] = [];
  for await (const batch of redis.client.scanIterator({ MATCH: `${redis.prefix}*` })) {
    keys.push(...batch);
  }
  const base = `${redis.prefix}rl:{t:ten_a}:`;
  assertEquals(keys.sort(), [
    `${base}k:key_b:req`,
    `${base}k:key_b:tok`,
    `${base}req`,
    `${base}tok`,
  ]);
  // Empty again after 6 s (key requests), 30 s (key tokens), 0.6 s and 3 s, plus a margin.
  const ttls = await Promise.all(keys.map((key) => redis.client.pTTL(key)));
  const expected = [6000, 30_000, 600, 3000];
  ttls.forEach((ttl, i) =>
    assert(ttl > expected[i] && ttl <= expected[i] + 1000, `${keys[i]}: ${ttl}`)
  );
  // Giving back every token removes the token keys at once.
  await limiter.settleTokens(who, -500);
  assertEquals(await redis.client.exists([`${base}k:key_b:tok`, `${base}tok`]), 0);
});

Deno.test("a Redis that never answers rejects within the timeout", async () => {
  // A listener that accepts connections and never says a word.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  const client: RedisConnection = createClient({
    url: `redis://127.0.0.1:${listener.addr.port}`,
    // Nothing to wait for on connecting, so that connect() resolves on the TCP handshake.
    disableClientInfo: true,
    socket: { reconnectStrategy: false },
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const limiter = new RedisRateLimiter({ redis: client, timeoutMs: 50 });
    const who = subject({ key: { rpm: 10 } });
    const started = performance.now();
    const error = await assertRejects(() => limiter.check(who, 0));
    const elapsed = performance.now() - started;
    assertMatch(error.message, /within 50 ms/);
    assert(elapsed >= 45 && elapsed < 400, `rejected after ${elapsed} ms`);
    await assertRejects(() => limiter.settleTokens({ ...who, key: { tpm: 10 } }, 5));
  } finally {
    client.destroy();
    listener.close();
    for (const conn of accepted) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("a closed connection rejects at once instead of queueing", async () => {
  await using redis = await openTestRedis();
  const connection = await redis.connect();
  await connection.close();
  const limiter = new RedisRateLimiter({
    redis: connection,
    prefix: redis.prefix,
    timeoutMs: 2000,
  });
  const started = performance.now();
  await assertRejects(() => limiter.check(subject({ key: { rpm: 1 } }), 0));
  assert(performance.now() - started < 100);
});
