import { assert, assertEquals } from "../../tests/assert.ts";
import {
  gcraCheck,
  gcraSettle,
  type GcraState,
  levelAt,
  PERIOD_MS,
  remainingOf,
  resetOf,
} from "./gcra.ts";

const T0 = 1_700_000_000_000;

/** Sends requests of `weight` at `now` until one is denied; returns how many passed. */
function burst(limit: number, weight = 1, state?: GcraState, now = T0) {
  let passed = 0;
  for (;;) {
    const verdict = gcraCheck(state, { limit, weight, now });
    if (!verdict.allowed) return { passed, state, verdict };
    state = verdict.next;
    passed++;
  }
}

Deno.test("an instantaneous burst passes exactly the limit, for limits that do not divide a minute", () => {
  for (const limit of [1, 3, 7, 9, 10, 11, 13, 14, 17, 60, 97, 1000, 7919]) {
    assertEquals(burst(limit).passed, limit, `limit ${limit}`);
  }
});

Deno.test("after a burst, one request passes per emission interval (60 000 / limit ms)", () => {
  const { state } = burst(10);
  // T = 6000 ms: 5999 ms later still nothing, at 6000 ms exactly one.
  assert(!gcraCheck(state, { limit: 10, weight: 1, now: T0 + 5999 }).allowed);
  const after = burst(10, 1, state, T0 + 6000);
  assertEquals(after.passed, 1);
  // With a limit of 7, T is 8571.43 ms: the next request waits 8572 ms (rounded up).
  const seven = burst(7);
  assertEquals(seven.verdict.retryAfterMs, 8572);
  assertEquals(burst(7, 1, seven.state, T0 + 8571).passed, 0);
  assertEquals(burst(7, 1, seven.state, T0 + 8572).passed, 1);
});

Deno.test("spaced at the emission interval, requests pass forever", () => {
  let state: GcraState | undefined;
  for (let i = 0; i < 1000; i++) {
    const verdict = gcraCheck(state, {
      limit: 7,
      weight: 1,
      now: T0 + Math.ceil(i * PERIOD_MS / 7),
    });
    assert(verdict.allowed, `request ${i}`);
    state = verdict.next;
  }
});

Deno.test("a token weight takes that many units of the budget", () => {
  const first = gcraCheck(undefined, { limit: 1000, weight: 600, now: T0 });
  assert(first.allowed);
  assertEquals(remainingOf(first.next.level, 1000), 400);
  assertEquals(resetOf(first.next.level, 1000), 36_000);
  const second = gcraCheck(first.next, { limit: 1000, weight: 500, now: T0 });
  assert(!second.allowed);
  // 100 tokens short at 1000 per minute: 6 s.
  assertEquals(second.retryAfterMs, 6000);
  assertEquals(second.next, first.next);
  assert(gcraCheck(first.next, { limit: 1000, weight: 500, now: T0 + 6000 }).allowed);
  // Zero tokens pass whenever the budget is not overdrawn.
  assert(gcraCheck(first.next, { limit: 1000, weight: 0, now: T0 }).allowed);
});

Deno.test("a request heavier than the whole budget passes only when it is untouched", () => {
  const big = gcraCheck(undefined, { limit: 1000, weight: 3000, now: T0 });
  assert(big.allowed);
  // 3 minutes of tokens recorded: fully back only after 3 minutes.
  assertEquals(resetOf(big.next.level, 1000), 180_000);
  assertEquals(remainingOf(big.next.level, 1000), 0);
  const next = gcraCheck(big.next, { limit: 1000, weight: 1, now: T0 });
  assertEquals(next.retryAfterMs, 120_060);
  const busy = gcraCheck({ level: 1, at: T0 }, { limit: 1000, weight: 3000, now: T0 });
  assertEquals([busy.allowed, busy.retryAfterMs], [false, 1]);
});

Deno.test("remaining and reset count down as the level drains", () => {
  const { state } = burst(10);
  assertEquals(remainingOf(levelAt(state, { limit: 10, now: T0 }), 10), 0);
  assertEquals(resetOf(levelAt(state, { limit: 10, now: T0 }), 10), 60_000);
  const later = levelAt(state, { limit: 10, now: T0 + 15_000 });
  assertEquals(remainingOf(later, 10), 2);
  assertEquals(resetOf(later, 10), 45_000);
  assertEquals(levelAt(state, { limit: 10, now: T0 + 60_000 }), 0);
  assertEquals(levelAt(state, { limit: 10, now: T0 + 10 * 60_000 }), 0);
  // A clock behind the one that wrote the state drains nothing rather than adding.
  assertEquals(levelAt(state, { limit: 10, now: T0 - 5000 }), state!.level);
});

Deno.test("settling adds or gives back tokens, never below an untouched budget", () => {
  const { next } = gcraCheck(undefined, { limit: 1000, weight: 800, now: T0 });
  const refunded = gcraSettle(next, { limit: 1000, delta: -600, now: T0 });
  assertEquals(remainingOf(refunded.level, 1000), 800);
  const charged = gcraSettle(next, { limit: 1000, delta: 500, now: T0 });
  assertEquals(remainingOf(charged.level, 1000), 0);
  assertEquals(resetOf(charged.level, 1000), 78_000);
  assertEquals(gcraSettle(next, { limit: 1000, delta: -5000, now: T0 }).level, 0);
  // Half drained after 24 s: giving back 800 leaves an untouched budget, not a credit.
  assertEquals(gcraSettle(next, { limit: 1000, delta: -800, now: T0 + 24_000 }).level, 0);
  assertEquals(gcraSettle(undefined, { limit: 1000, delta: 100, now: T0 }), {
    level: 100 * PERIOD_MS,
    at: T0,
  });
});
