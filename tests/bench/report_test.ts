import { assertEquals } from "../assert.ts";
import { judge, median, type RoundSample, summarize } from "./report.ts";

function sample(requestsPerSecond: number, p50Ms: number): RoundSample {
  return {
    requestsPerSecond,
    p50Ms,
    p99Ms: p50Ms * 2,
    gatewayCores: 1,
    gatewayMainCores: 0.9,
    mockCores: 0.5,
    machineCores: 2,
  };
}

Deno.test("the median resists one noisy round", () => {
  assertEquals(median([10, 1000, 12]), 12);
  assertEquals(median([4, 1, 3, 2]), 2.5);
});

Deno.test("each goal passes or fails on the medians, with figures", () => {
  const direct = summarize([sample(20000, 0.1), sample(21000, 0.12), sample(5000, 0.4)]);
  const fast = summarize([sample(9000, 0.5), sample(9500, 0.55), sample(100, 3)]);
  assertEquals(fast.requestsPerSecond, 9000);
  assertEquals(judge(direct, fast).map((v) => v.pass), [true, true, true]);
  const slow = summarize([sample(6000, 0.9)]);
  const verdicts = judge(direct, slow);
  assertEquals(verdicts.map((v) => v.pass), [false, false, false]);
  assertEquals(verdicts[2].detail, "30.0% (6000 / 20000 req/s)");
});
