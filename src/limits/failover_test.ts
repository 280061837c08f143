import { createClient } from "redis";
import { HttpError } from "../core/mod.ts";
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { FailoverRateLimiter } from "./failover.ts";
import { MemoryRateLimiter } from "./memory.ts";
import { RedisRateLimiter } from "./redis.ts";
import { fakeClock, recordingLogger, subject } from "./_test_utils.ts";
import type { LimitSubject, RateLimitDecision, RateLimiter } from "./types.ts";

/** A primary that works or fails on command and counts its calls. */
class SwitchableLimiter implements RateLimiter {
  failing = false;
  calls = 0;
  pending: (() => void) | undefined;

  async check(_subject: LimitSubject, _tokens: number): Promise<RateLimitDecision> {
    await this.#answer();
    return { allowed: true, state: { limitRequests: 999 } };
  }

  async settleTokens(): Promise<void> {
    await this.#answer();
  }

  #answer(): Promise<void> {
    this.calls++;
    if (this.failing) return Promise.reject(new Error("Redis is down"));
    return Promise.resolve();
  }
}

function setup(policy: "fail-open" | "fail-closed", probeIntervalMs = 0) {
  const primary = new SwitchableLimiter();
  const fallback = new MemoryRateLimiter();
  const logger = recordingLogger();
  const clock = fakeClock(0);
  const limiter = new FailoverRateLimiter({
    primary,
    fallback,
    policy,
    logger,
    probeIntervalMs,
    now: clock.now,
  });
  const events = () => logger.lines.map((line) => `${line.level} ${line.event}`);
  return { primary, fallback, logger, clock, limiter, events };
}

Deno.test("fail-open limits with the fallback while the primary fails, and says so once", async () => {
  const { primary, limiter, events, logger } = setup("fail-open");
  const who = subject({ key: { rpm: 2 } });
  assertEquals((await limiter.check(who, 0)).state.limitRequests, 999);
  primary.failing = true;
  const decisions = await Promise.all(Array.from({ length: 5 }, () => limiter.check(who, 0)));
  assertEquals(decisions.map((decision) => decision.allowed), [true, true, false, false, false]);
  assertEquals(decisions[0].state.limitRequests, 2);
  await limiter.settleTokens({ ...who, key: { tpm: 10 } }, 3);
  assertEquals(events(), ["WARNING rate_limiter_degraded"]);
  assertEquals(logger.lines[0].fields?.policy, "fail-open");
  assert(logger.lines[0].fields?.error instanceof Error);
});

Deno.test("recovery is logged once and the primary takes over again", async () => {
  const { primary, limiter, events } = setup("fail-open");
  const who = subject({ key: { rpm: 1 } });
  primary.failing = true;
  await limiter.check(who, 0);
  primary.failing = false;
  for (let i = 0; i < 3; i++) assertEquals((await limiter.check(who, 0)).state.limitRequests, 999);
  primary.failing = true;
  await limiter.check(who, 0);
  assertEquals(events(), [
    "WARNING rate_limiter_degraded",
    "INFO rate_limiter_recovered",
    "WARNING rate_limiter_degraded",
  ]);
});

Deno.test("fail-closed answers 503 while the primary fails and never uses the fallback", async () => {
  const { primary, fallback, limiter, events } = setup("fail-closed");
  const who = subject({ key: { rpm: 1 } });
  primary.failing = true;
  for (let i = 0; i < 3; i++) {
    const error = await assertRejects(() => limiter.check(who, 0));
    assert(error instanceof HttpError);
    assertEquals([error.status, error.type, error.code], [
      503,
      "service_unavailable",
      "rate_limiter_unavailable",
    ]);
    assertEquals((error.cause as Error).message, "Redis is down");
  }
  assertEquals(fallback.size, 0);
  primary.failing = false;
  assert((await limiter.check(who, 0)).allowed);
  assertEquals(events(), ["WARNING rate_limiter_degraded", "INFO rate_limiter_recovered"]);
});

Deno.test("while the primary is down it is tried once per probe interval, not per request", async () => {
  const { primary, clock, limiter, events } = setup("fail-open", 1000);
  const who = subject({ key: { rpm: 100 } });
  primary.failing = true;
  for (let i = 0; i < 10; i++) await limiter.check(who, 0);
  assertEquals(primary.calls, 1);
  clock.advance(1000);
  primary.failing = false;
  await Promise.all(Array.from({ length: 10 }, () => limiter.check(who, 0)));
  // One probe; the others, started before it answered, still went to the fallback.
  assertEquals(primary.calls, 2);
  await limiter.check(who, 0);
  assertEquals(primary.calls, 3);
  assertEquals(events(), ["WARNING rate_limiter_degraded", "INFO rate_limiter_recovered"]);
});

Deno.test("an answer to a call made before the outage does not announce a recovery", async () => {
  const { primary, limiter, events } = setup("fail-open");
  let release!: () => void;
  const slow = new Promise<void>((resolve) => release = resolve);
  const who = subject({ key: { rpm: 100 } });
  const check = primary.check.bind(primary);
  primary.check = async (...args) => {
    await slow;
    return await check(...args);
  };
  const early = limiter.check(who, 0);
  primary.check = check;
  primary.failing = true;
  await limiter.check(who, 0);
  primary.failing = false;
  release();
  await early;
  assertEquals(events(), ["WARNING rate_limiter_degraded"]);
});

Deno.test("a Redis limiter on a closed connection fails over without waiting", async () => {
  const closed = createClient({ url: "redis://127.0.0.1:6379", disableOfflineQueue: true });
  const logger = recordingLogger();
  const limiter = new FailoverRateLimiter({
    primary: new RedisRateLimiter({ redis: closed }),
    fallback: new MemoryRateLimiter(),
    policy: "fail-open",
    logger,
  });
  const started = performance.now();
  const decision = await limiter.check(subject({ key: { rpm: 5 } }), 0);
  assert(performance.now() - started < 100);
  assertEquals(decision, {
    allowed: true,
    state: { limitRequests: 5, remainingRequests: 4, resetRequestsMs: 12_000 },
  });
  assertEquals(logger.lines.map((line) => line.event), ["rate_limiter_degraded"]);
});
