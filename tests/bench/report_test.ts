import { assertEquals, assertMatch } from "../assert.ts";
import {
  type BenchMeasurements,
  buildResults,
  formatReport,
  judge,
  judgeResponses,
  median,
  type RoundSample,
  summarize,
} from "./report.ts";

function sample(requestsPerSecond: number, p50Ms: number): RoundSample {
  return {
    requestsPerSecond,
    wrkRequestsPerSecond: requestsPerSecond,
    jobsQueuedAfter: 0,
    drainSeconds: 0,
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

function measurements(foundation: RoundSample[] | null): BenchMeasurements {
  return {
    settings: {
      durationSeconds: 5,
      rounds: 1,
      warmupSeconds: 3,
      stack: "shared",
      cpus: 2,
      baseline: foundation ? { ref: "751656d", commit: "751656d", subject: "Keep-alive" } : null,
    },
    rounds: {
      direct: [sample(20000, 0.1)],
      floor: [sample(6000, 0.2)],
      gateway: [sample(9000, 0.4)],
      routed: [sample(8000, 0.45)],
      messages: [sample(8100, 0.42)],
      foundation,
    },
    gatewayMemory: { peakKiB: 102400, rssKiB: 51200 },
    foundationMemory: foundation ? { peakKiB: 81920, rssKiB: 40960 } : null,
  };
}

Deno.test("the money path's share of the foundation's rate is judged against issue 3's 75%", () => {
  const direct = summarize([sample(20000, 0.1)]);
  const gateway = summarize([sample(9000, 0.4)]);
  const keeps = judge(direct, gateway, summarize([sample(12000, 0.2)]));
  assertEquals(keeps.length, 5);
  assertEquals(keeps[3], {
    goal: "money path keeps ≥ 75% of the foundation's rate (issue 3, same run)",
    pass: true,
    detail: "75.0% (9000 / 12000 req/s)",
  });
  assertEquals(keeps[4], {
    goal: "foundation's added p50 at 1 connection ≤ 0.5 ms (issue 2, for reference)",
    pass: true,
    detail: "+0.100 ms (foundation 0.200 − direct 0.100)",
  });
  const loses = judge(direct, gateway, summarize([sample(12001, 0.7)]));
  assertEquals(loses.slice(3).map((v) => v.pass), [false, false]);
  assertEquals(loses[3].detail, "75.0% (9000 / 12001 req/s)");
  assertEquals(judge(direct, gateway).length, 3);
});

Deno.test("results carry the foundation's figures, and the JSON keeps them", () => {
  const results = buildResults(measurements([sample(12000, 0.25), sample(14000, 0.3)]));
  assertEquals(results.foundation?.requestsPerSecond, 13000);
  assertEquals(results.foundationShare, 9000 / 13000);
  assertEquals(results.foundationAddedP50Ms?.toFixed(3), "0.175");
  assertEquals(results.verdicts.map((v) => v.pass), [true, true, true, false, true, true]);
  const json = JSON.parse(JSON.stringify(results));
  assertEquals(json.settings.baseline, {
    ref: "751656d",
    commit: "751656d",
    subject: "Keep-alive",
  });
  assertEquals(json.foundation.requestsPerSecond, 13000);
  assertEquals(json.foundationShare, 9000 / 13000);
  assertEquals(json.foundationMemory, { peakKiB: 81920, rssKiB: 40960 });

  const off = JSON.parse(JSON.stringify(buildResults(measurements(null))));
  assertEquals(
    [off.settings.baseline, off.foundation, off.foundationShare, off.foundationAddedP50Ms],
    [null, null, null, null],
  );
  assertEquals(off.verdicts.length, 4);
});

Deno.test("the /v1/messages run is judged against issue 13's 85% of the chat route's rate", () => {
  const results = buildResults(measurements(null));
  assertEquals(results.messagesShare, 8100 / 9000);
  assertEquals(results.verdicts.at(-1), {
    goal: "/v1/messages keeps ≥ 85% of the chat route's rate (issue 13, same run)",
    pass: true,
    detail: "90.0% (8100 / 9000 req/s)",
  });
  const report = formatReport(results);
  assertMatch(report, /\nmessages \(\/v1\/messages .*\): 8100 req\/s @64 conn, 90\.0% of chat's; /);
  assertMatch(report, /\| messages 8100\n/);
});

Deno.test("the report shows the foundation's column, CPU, memory and verdicts", () => {
  const report = formatReport(buildResults(measurements([sample(12000, 0.2)])));
  const lines = report.split("\n");
  assertMatch(report, /foundation: 751656d \("Keep-alive"\), from '751656d' in a temporary git/);
  assertMatch(lines.find((l) => l.startsWith("median"))!, /2 weighted mocks\s+foundation$/);
  assertMatch(lines.find((l) => l.startsWith("req/s @64"))!, /45\.0% of direct\s+8000\s+12000$/);
  assertMatch(lines.find((l) => l.startsWith("p50 @1"))!, /0\.450 ms\s+0\.200 ms$/);
  assertMatch(
    report,
    /rounds, req\/s @64: {3}direct 20000 \| floor 6000 \| .* \| foundation 12000\n/,
  );
  assertMatch(
    report,
    /\nfloor proxy \(.*\): 6000 req\/s @64 conn, 30\.0% of direct; p50 @1 conn 0\.200 ms \(\+0\.100 ms\)\n/,
  );
  assertMatch(report, /CPU @64 conn, foundation \(cores\): gateway 1\.00, of which main JS thread/);
  assertMatch(report, /; foundation peak 80\.0 MiB, RSS at end 40\.0 MiB/);
  assertMatch(
    report,
    /\nPASS {2}money path keeps ≥ 75% of the foundation's rate \(issue 3, same run\): 75\.0% /,
  );
  assertMatch(report, /\nPASS {2}foundation's added p50 at 1 connection ≤ 0\.5 ms \(issue 2, /);
});

Deno.test("without a baseline the report says so and keeps the other columns and verdicts", () => {
  const report = formatReport(buildResults(measurements(null)));
  assertMatch(report, /\nfoundation: not measured \(--baseline=none\)\n/);
  assertEquals(report.includes("| foundation"), false);
  assertEquals(report.includes("CPU @64 conn, foundation"), false);
  assertMatch(report.split("\n").find((l) => l.startsWith("median"))!, /2 weighted mocks$/);
  assertEquals(report.split("\n").filter((l) => /^(PASS|FAIL) /.test(l)).length, 4);
});

Deno.test("the Responses API's verdict compares its rate with chat's in the same rounds", () => {
  const chat = summarize([sample(10000, 0.5)]);
  const verdict = judgeResponses(chat, summarize([sample(8500, 0.55)]));
  assertEquals(verdict.pass, true);
  assertMatch(verdict.detail, /^85\.0% \(8500 \/ 10000 req\/s\)/);
  assertEquals(judgeResponses(chat, summarize([sample(7900, 0.5)])).pass, false);
});
