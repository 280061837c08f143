// One suite, run against the memory and the Redis limiter: both must limit the same way.
// Redis is required: when it is unreachable these tests fail.
import { assert, assertEquals } from "../../tests/assert.ts";
import { rateLimitHeaders } from "./headers.ts";
import { MemoryRateLimiter } from "./memory.ts";
import { RedisRateLimiter } from "./redis.ts";
import { type FakeClock, fakeClock, openTestRedis, subject } from "./_test_utils.ts";
import type { RateLimitDecision, RateLimiter } from "./types.ts";

interface Backend {
  name: string;
  /** A limiter on `clock`, with state of its own; disposing releases it. */
  open(clock: FakeClock): Promise<{ limiter: RateLimiter } & AsyncDisposable>;
}

const backends: Backend[] = [
  {
    name: "memory",
    open: (clock) => {
      const limiter = new MemoryRateLimiter({ now: clock.now });
      return Promise.resolve({ limiter, [Symbol.asyncDispose]: () => Promise.resolve() });
    },
  },
  {
    name: "redis",
    async open(clock) {
      const redis = await openTestRedis();
      // A generous timeout: these tests are about limiting, not about a loaded test machine.
      const limiter = new RedisRateLimiter({
        redis: redis.client,
        prefix: redis.prefix,
        timeoutMs: 2000,
        now: clock.now,
      });
      return { limiter, [Symbol.asyncDispose]: () => redis[Symbol.asyncDispose]() };
    },
  },
];

function denial(decision: RateLimitDecision) {
  return decision.allowed
    ? "allowed"
    : { scope: decision.scope, kind: decision.kind, retryAfterMs: decision.retryAfterMs };
}

function countAllowed(decisions: RateLimitDecision[]): number {
  return decisions.filter((decision) => decision.allowed).length;
}

for (const backend of backends) {
  const test = (name: string, fn: (limiter: RateLimiter, clock: FakeClock) => Promise<void>) =>
    Deno.test(`${backend.name}: ${name}`, async () => {
      const clock = fakeClock();
      await using opened = await backend.open(clock);
      await fn(opened.limiter, clock);
    });

  test(
    "a burst of 30 concurrent requests with a key limit of 10 rpm lets exactly 10 through",
    async (limiter, clock) => {
      const who = subject({ key: { rpm: 10 } });
      const decisions = await Promise.all(Array.from({ length: 30 }, () => limiter.check(who, 0)));
      assertEquals(countAllowed(decisions), 10);
      for (const decision of decisions.filter((each) => !each.allowed)) {
        assertEquals(denial(decision), { scope: "key", kind: "requests", retryAfterMs: 6000 });
      }
      // Then one per 6 s.
      clock.advance(6000);
      const next = await Promise.all(Array.from({ length: 5 }, () => limiter.check(who, 0)));
      assertEquals(countAllowed(next), 1);
    },
  );

  test("a tenant's limit is shared by its keys, and other tenants are not affected", async (limiter) => {
    const a = subject({ tenant: { rpm: 5 }, key: { rpm: 10 } });
    const b = { ...a, apiKeyId: "key_b" };
    for (let i = 0; i < 3; i++) assert((await limiter.check(a, 0)).allowed);
    for (let i = 0; i < 2; i++) assert((await limiter.check(b, 0)).allowed);
    const refused = await limiter.check(b, 0);
    assertEquals(denial(refused), { scope: "tenant", kind: "requests", retryAfterMs: 12_000 });
    assertEquals(refused.state, {
      limitRequests: 5,
      remainingRequests: 0,
      resetRequestsMs: 60_000,
    });
    const other = subject({ tenant: { rpm: 5 }, key: { rpm: 10 } });
    assert((await limiter.check(other, 0)).allowed);
  });

  test("a request denied by one limit is recorded in none", async (limiter) => {
    const tight = subject({ tenant: { rpm: 2 }, key: { rpm: 3, tpm: 1000 } });
    for (let i = 0; i < 2; i++) assert((await limiter.check(tight, 400)).allowed);
    for (let i = 0; i < 5; i++) {
      assertEquals(denial(await limiter.check(tight, 100)), {
        scope: "tenant",
        kind: "requests",
        retryAfterMs: 30_000,
      });
    }
    // Without the tenant's limit the key has exactly one request and 200 tokens left.
    const loose = { ...tight, tenant: {} };
    const last = await limiter.check(loose, 200);
    assert(last.allowed);
    assertEquals(last.state.remainingRequests, 0);
    assertEquals(last.state.remainingTokens, 0);
    assertEquals(denial(await limiter.check(loose, 0)), {
      scope: "key",
      kind: "requests",
      retryAfterMs: 20_000,
    });
  });

  test(
    "a token limit counts the estimated tokens and says when they are back",
    async (limiter, clock) => {
      const who = subject({ key: { tpm: 1000 } });
      const first = await limiter.check(who, 400);
      assertEquals(first.state, { limitTokens: 1000, remainingTokens: 600, resetTokensMs: 24_000 });
      assert((await limiter.check(who, 400)).allowed);
      const refused = await limiter.check(who, 400);
      assertEquals(denial(refused), { scope: "key", kind: "tokens", retryAfterMs: 12_000 });
      assertEquals(refused.state, {
        limitTokens: 1000,
        remainingTokens: 200,
        resetTokensMs: 48_000,
      });
      clock.advance(11_999);
      assertEquals(denial(await limiter.check(who, 400)), {
        scope: "key",
        kind: "tokens",
        retryAfterMs: 1,
      });
      clock.advance(1);
      assert((await limiter.check(who, 400)).allowed);
    },
  );

  test("settling gives back unused tokens and charges extra ones", async (limiter) => {
    const who = subject({ tenant: { tpm: 10_000 }, key: { tpm: 1000 } });
    assert((await limiter.check(who, 800)).allowed);
    await limiter.settleTokens(who, -600);
    const after = await limiter.check(who, 700);
    assert(after.allowed, "600 tokens given back make room for 700");
    assertEquals(after.state.remainingTokens, 100);
    await limiter.settleTokens(who, 500);
    assertEquals(denial(await limiter.check(who, 1)), {
      scope: "key",
      kind: "tokens",
      retryAfterMs: 24_060,
    });
    // Giving back more than was taken leaves an untouched budget, not a credit.
    await limiter.settleTokens(who, -1_000_000);
    const empty = await limiter.check(who, 0);
    assertEquals(empty.state, { limitTokens: 1000, remainingTokens: 1000, resetTokensMs: 0 });
    const full = await limiter.check(who, 1000);
    assert(full.allowed);
    assert(!(await limiter.check(who, 1)).allowed);
  });

  test("retry-after is the wait of the limit that takes longest", async (limiter, clock) => {
    const who = subject({ tenant: { rpm: 2 }, key: { rpm: 4 } });
    assert((await limiter.check(who, 0)).allowed);
    assert((await limiter.check(who, 0)).allowed);
    assertEquals(denial(await limiter.check(who, 0)), {
      scope: "tenant",
      kind: "requests",
      retryAfterMs: 30_000,
    });
    clock.advance(1000);
    const refused = await limiter.check(who, 0);
    assertEquals(denial(refused), { scope: "tenant", kind: "requests", retryAfterMs: 29_000 });
    clock.advance(29_000);
    assert((await limiter.check(who, 0)).allowed);
  });

  test("limits of 0 or undefined are not enforced and produce no headers", async (limiter) => {
    const free = subject({ tenant: { rpm: 0, tpm: undefined }, key: {} });
    for (let i = 0; i < 200; i++) {
      const decision = await limiter.check(free, 1_000_000);
      assertEquals(decision, { allowed: true, state: {} });
    }
    await limiter.settleTokens(free, 5000);
    const requestsOnly = subject({ key: { rpm: 5, tpm: 0 } });
    const decision = await limiter.check(requestsOnly, 1_000_000);
    assertEquals(decision.state, {
      limitRequests: 5,
      remainingRequests: 4,
      resetRequestsMs: 12_000,
    });
  });

  test("the headers show the tightest request and token limits", async (limiter) => {
    const tenantId = `ten_${crypto.randomUUID()}`;
    const busy = subject({ tenant: { rpm: 20, tpm: 100_000 }, key: {} }, { tenantId });
    for (let i = 0; i < 15; i++) assert((await limiter.check(busy, 100)).allowed);
    const who = subject({ tenant: { rpm: 20, tpm: 100_000 }, key: { rpm: 10, tpm: 2000 } }, {
      tenantId,
    });
    const decision = await limiter.check(who, 1500);
    assert(decision.allowed);
    assertEquals(rateLimitHeaders(decision.state), {
      // The tenant has 4 requests left, the key 9.
      "x-ratelimit-limit-requests": "20",
      "x-ratelimit-remaining-requests": "4",
      "x-ratelimit-reset-requests": "48s",
      // The key has 500 tokens left, the tenant 97 000.
      "x-ratelimit-limit-tokens": "2000",
      "x-ratelimit-remaining-tokens": "500",
      "x-ratelimit-reset-tokens": "45s",
    });
  });

  test(
    "a request larger than a minute's tokens passes only on an untouched budget",
    async (limiter, clock) => {
      const who = subject({ key: { tpm: 1000 } });
      assert((await limiter.check(who, 2500)).allowed);
      assertEquals(denial(await limiter.check(who, 1)), {
        scope: "key",
        kind: "tokens",
        retryAfterMs: 90_060,
      });
      clock.advance(149_999);
      assert(!(await limiter.check(who, 2500)).allowed);
      clock.advance(1);
      assert((await limiter.check(who, 2500)).allowed);
    },
  );
}
