import { assert, assertEquals } from "../../tests/assert.ts";
import { MemoryRateLimiter } from "./memory.ts";
import { fakeClock, subject } from "./_test_utils.ts";

Deno.test("the memory limiter keeps no state for budgets that drained", async () => {
  const clock = fakeClock();
  const limiter = new MemoryRateLimiter({ now: clock.now });
  const who = subject({ tenant: { rpm: 60, tpm: 6000 }, key: { rpm: 10, tpm: 1000 } });
  await limiter.check(who, 100);
  assertEquals(limiter.size, 4);
  clock.advance(6000);
  // All four drained: reading drops them; a request without tokens records only its requests,
  // and giving back tokens to an untouched budget stores nothing.
  assert((await limiter.check(who, 0)).allowed);
  assertEquals(limiter.size, 2);
  await limiter.settleTokens(who, -1_000_000);
  assertEquals(limiter.size, 2);
});

Deno.test("the memory limiter holds at most maxEntries states, dropping drained ones first", async () => {
  const clock = fakeClock();
  const limiter = new MemoryRateLimiter({ now: clock.now, maxEntries: 100 });
  const long = subject({ key: { rpm: 1 } });
  await limiter.check(long, 0);
  for (let i = 0; i < 1000; i++) {
    await limiter.check(subject({ key: { rpm: 6000 } }), 0);
    clock.advance(1);
    assert(limiter.size <= 100, `size ${limiter.size} after ${i}`);
  }
  // The key with a minute to drain outlived a thousand that drained in 10 ms each.
  assert(!(await limiter.check(long, 0)).allowed);
});

Deno.test("the memory limiter rejects a maxEntries that cannot hold anything", () => {
  for (const maxEntries of [0, -1, 1.5]) {
    let error: unknown;
    try {
      new MemoryRateLimiter({ maxEntries });
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof RangeError);
  }
});
