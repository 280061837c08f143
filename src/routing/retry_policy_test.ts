import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { RetryPolicy } from "./retry_policy.ts";
import { seededRandom } from "./_test_utils.ts";

const policy = new RetryPolicy({
  maxAttempts: 3,
  deadlineMs: 30_000,
  backoffMs: 100,
  backoffMaxMs: 1_000,
  retryAfterMaxMs: 5_000,
});

Deno.test("backoff doubles with each retry up to its cap, jittered between half and all of it", () => {
  const random = seededRandom(5);
  for (const [retry, ceiling] of [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1000], [9, 1000]]) {
    const waits = Array.from({ length: 200 }, () => policy.backoffMs(retry, { random })!);
    const low = Math.min(...waits);
    const high = Math.max(...waits);
    assert(low >= ceiling / 2 && high <= ceiling, `retry ${retry}: ${low}..${high}`);
    assert(high - low > ceiling / 4, `retry ${retry} is jittered: ${low}..${high}`);
  }
  assertEquals(policy.backoffMs(1, { random: () => 0 }), 50);
  assertEquals(policy.backoffMs(1, { random: () => 0.999_999 }), 100);
});

Deno.test("an upstream's Retry-After is waited for, up to the cap; past it, not at all", () => {
  const random = () => 0.5;
  assertEquals(policy.backoffMs(1, { retryAfterSeconds: 2, random }), 2_000);
  assertEquals(policy.backoffMs(1, { retryAfterSeconds: 0, random }), 75);
  assertEquals(policy.backoffMs(1, { retryAfterSeconds: 5, random }), 5_000);
  assertEquals(policy.backoffMs(1, { retryAfterSeconds: 7, random }), undefined);
});

Deno.test("failures that may pass are retried anywhere, a deployment's own faults elsewhere, the client's never", () => {
  for (const error of ["connect", "timeout", "rate_limited", "server_error"] as const) {
    assertEquals(policy.scopeOf(error), "any", error);
  }
  for (const error of ["auth", "invalid_response"] as const) {
    assertEquals(policy.scopeOf(error), "other", error);
  }
  for (const error of ["client_error", "canceled", "circuit_open"] as const) {
    assertEquals(policy.scopeOf(error), "none", error);
  }
});

Deno.test("a policy without attempts is refused", () => {
  const error = assertThrows(() => new RetryPolicy({ ...policy.options, maxAttempts: 0 }));
  assert(error.message.includes("'maxAttempts'"), error.message);
});
