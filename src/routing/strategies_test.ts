import { assert, assertEquals } from "../../tests/assert.ts";
import { type Candidate, EXPLORE_SHARE, LatencyAverage, pickCandidate } from "./strategies.ts";
import { seededRandom } from "./_test_utils.ts";

function candidate(overrides: Partial<Candidate> = {}): Candidate {
  return { weight: 1, priority: 0, latencyMs: undefined, ...overrides };
}

function counts(picks: number, pick: () => number, size: number): number[] {
  const seen = new Array(size).fill(0);
  for (let i = 0; i < picks; i++) seen[pick()]++;
  return seen;
}

Deno.test("weighted picks split requests in proportion to the weights", () => {
  const random = seededRandom(42);
  const candidates = [candidate({ weight: 3 }), candidate({ weight: 1 })];
  const seen = counts(10_000, () => pickCandidate("weighted", candidates, random), 2);
  // 3:1 of 10,000 is 7,500; four standard deviations (σ ≈ 43) either side.
  assert(Math.abs(seen[0] - 7_500) < 175, `split ${seen.join(":")}`);
});

Deno.test("weighted never picks a zero weight while a positive one is there, and copes with all zero", () => {
  const random = seededRandom(7);
  const candidates = [candidate({ weight: 0 }), candidate({ weight: 2 }), candidate({ weight: 0 })];
  assertEquals(counts(1_000, () => pickCandidate("weighted", candidates, random), 3), [0, 1000, 0]);
  const idle = [candidate({ weight: 0 }), candidate({ weight: 0 })];
  assertEquals(pickCandidate("weighted", idle, random), 0);
  assertEquals(pickCandidate("weighted", candidates, () => 0.999_999_999_999), 1);
});

Deno.test("priority picks the lowest priority, weighted within it", () => {
  const random = seededRandom(3);
  const candidates = [
    candidate({ priority: 2, weight: 100 }),
    candidate({ priority: 1, weight: 1 }),
    candidate({ priority: 1, weight: 1 }),
  ];
  const seen = counts(4_000, () => pickCandidate("priority", candidates, random), 3);
  assertEquals(seen[0], 0);
  assert(Math.abs(seen[1] - 2_000) < 130, `split ${seen.join(":")}`);
});

Deno.test("least_latency prefers the fastest, measures the unmeasured first, and explores a little", () => {
  const random = seededRandom(11);
  const candidates = [
    candidate({ latencyMs: 300 }),
    candidate({ latencyMs: 40 }),
    candidate({ latencyMs: 900 }),
  ];
  const seen = counts(10_000, () => pickCandidate("least_latency", candidates, random), 3);
  const explored = seen[0] + seen[2];
  assert(Math.abs(explored - 10_000 * EXPLORE_SHARE) < 90, `split ${seen.join(":")}`);
  assert(seen[0] > 0 && seen[2] > 0, "every other deployment gets measured now and then");
  const fresh = [candidate({ latencyMs: 40 }), candidate({ latencyMs: undefined })];
  assertEquals(pickCandidate("least_latency", fresh, () => 0.5), 1);
});

Deno.test("the latency average follows recent samples and forgets old ones", () => {
  const average = new LatencyAverage(0.5);
  assertEquals(average.value, undefined);
  average.observe(100);
  assertEquals(average.value, 100);
  average.observe(200);
  assertEquals(average.value, 150);
  for (let i = 0; i < 20; i++) average.observe(10);
  assert(average.value! < 11, `average ${average.value}`);
});
