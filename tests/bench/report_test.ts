import { assertEquals, assertMatch } from "../assert.ts";
import {
  type BenchMeasurements,
  buildResults,
  formatReport,
  judge,
  judgeControls,
  judgeFoundation,
  judgeResponses,
  median,
  percentile,
  type RateSample,
  type RoundSample,
  type StreamSample,
  summarize,
  summarizeRates,
  summarizeStreams,
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

function rate(requestsPerSecond: number): RateSample {
  const { p50Ms: _p50, p99Ms: _p99, ...figures } = sample(requestsPerSecond, 0);
  return figures;
}

Deno.test("the median resists one noisy round", () => {
  assertEquals(median([10, 1000, 12]), 12);
  assertEquals(median([4, 1, 3, 2]), 2.5);
});

Deno.test("a percentile is the nearest rank, whatever the order", () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  assertEquals(percentile(values, 0.5), 50);
  assertEquals(percentile(values, 0.99), 99);
  assertEquals(percentile([7], 0.99), 7);
  assertEquals(percentile([3, 1, 2], 0.5), 2);
});

function stream(firstChunkP50Ms: number): StreamSample {
  return { requests: 1000, firstChunkP50Ms, firstChunkP99Ms: firstChunkP50Ms * 3 };
}

const MIB = 1024;

function figures(stack: string, gateway: RoundSample, streamP50Ms: number, peakMiB: number) {
  return {
    stack,
    direct: summarize([sample(20000, 0.1)]),
    floor: summarize([sample(10000, 0.2)]),
    gateway: summarize([gateway]),
    streams: {
      direct: summarizeStreams([stream(0.2)]),
      gateway: summarizeStreams([stream(streamP50Ms)]),
    },
    memory: {
      idle: { peakKiB: 50 * MIB, rssKiB: 50 * MIB },
      end: { peakKiB: peakMiB * MIB, rssKiB: 80 * MIB },
    },
  };
}

Deno.test("issue 16's goals pass or fail on the medians, with figures", () => {
  const meets = judge(figures("embedded", sample(8000, 0.45), 0.5, 110));
  assertEquals(meets.map((v) => [v.goal, v.pass]), [
    ["added p50 at 1 connection ≤ 0.35 ms on the embedded stack (issue 16)", true],
    ["added p99 at 1 connection ≤ 1 ms (issue 16)", true],
    [
      "≥ 80% of the floor proxy's rate at 64 connections, jobs drained (issue 16, same rounds)",
      true,
    ],
    ["peak RSS ≤ 110 MiB through the 64-connection runs (issue 16)", true],
    ["idle RSS after start ≤ 60 MiB (issue 16)", true],
    ["stream's first chunk ≤ 0.3 ms behind direct at p50 (issue 16)", true],
  ]);
  assertEquals(meets[0].detail, "+0.350 ms (gateway 0.450 − direct 0.100)");
  assertEquals(meets[2].detail, "80.0% (8000 / 10000 req/s)");
  assertEquals(meets[5].detail, "+0.300 ms (gateway 0.500 − direct 0.200)");

  const misses = judge(figures("embedded", sample(7999, 0.61), 0.51, 111));
  assertEquals(misses.map((v) => v.pass), [false, false, false, false, true, false]);
  assertEquals(misses[1].detail, "+1.020 ms (gateway 1.220 − direct 0.200)");
  assertEquals(misses[3].detail, "111.0 MiB (VmHWM at the end of the bench)");
});

Deno.test("the shared stacks are held to 0.6 ms at p50, and their p99 is not judged", () => {
  const verdicts = judge(figures("shared-redis", sample(9000, 0.7), 0.3, 90));
  assertEquals(verdicts.length, 5);
  assertEquals(
    verdicts[0].goal,
    "added p50 at 1 connection ≤ 0.6 ms on the shared-redis stack (issue 16)",
  );
  assertEquals(verdicts[0].pass, true);
  assertEquals(judge(figures("shared-redis", sample(9000, 0.71), 0.3, 90))[0].pass, false);
});

function measurements(foundation: RoundSample[] | null): BenchMeasurements {
  return {
    settings: {
      durationSeconds: 5,
      rounds: 1,
      warmupSeconds: 3,
      stack: "shared",
      cpus: 2,
      pinning: "pinned with taskset: targets on CPU 0, load on CPU 1",
      baseline: foundation ? { ref: "751656d", commit: "751656d", subject: "Keep-alive" } : null,
    },
    rounds: {
      direct: [sample(20000, 0.1)],
      floor: [sample(6000, 0.2)],
      gateway: [sample(9000, 0.4)],
      routed: [sample(8000, 0.45)],
      messages: [sample(8100, 0.42)],
      controls: [rate(8820)],
      foundation,
    },
    streams: { direct: [stream(0.2)], gateway: [stream(0.4)] },
    gatewayMemory: { peakKiB: 102400, rssKiB: 51200 },
    gatewayIdleMemory: { peakKiB: 40960, rssKiB: 40960 },
    foundationMemory: foundation ? { peakKiB: 81920, rssKiB: 40960 } : null,
  };
}

Deno.test("the money path's share of the foundation's rate is judged against issue 3's 75%", () => {
  const gateway = summarize([sample(9000, 0.4)]);
  assertEquals(judgeFoundation(gateway, summarize([sample(12000, 0.2)])), [{
    goal: "money path keeps ≥ 75% of the foundation's rate (issue 3, same run)",
    pass: true,
    detail: "75.0% (9000 / 12000 req/s)",
  }]);
  const loses = judgeFoundation(gateway, summarize([sample(12001, 0.7)]));
  assertEquals([loses[0].pass, loses[0].detail], [false, "75.0% (9000 / 12001 req/s)"]);
  assertEquals(judgeFoundation(gateway, null), []);
});

Deno.test("results carry the foundation's figures, and the JSON keeps them", () => {
  const results = buildResults(measurements([sample(12000, 0.25), sample(14000, 0.3)]));
  assertEquals(results.foundation?.requestsPerSecond, 13000);
  assertEquals(results.foundationShare, 9000 / 13000);
  assertEquals(results.foundationAddedP50Ms?.toFixed(3), "0.175");
  assertEquals(results.verdicts.map((v) => v.pass), [
    true,
    true,
    true,
    true,
    true,
    false,
    true,
    true,
  ]);
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
  assertEquals(off.verdicts.length, 7);
});

Deno.test("the /v1/messages run is judged against issue 13's 85% of the chat route's rate", () => {
  const results = buildResults(measurements(null));
  assertEquals(results.messagesShare, 8100 / 9000);
  assertEquals(results.verdicts.find((v) => v.goal.startsWith("/v1/messages")), {
    goal: "/v1/messages keeps ≥ 85% of the chat route's rate (issue 13, same run)",
    pass: true,
    detail: "90.0% (8100 / 9000 req/s)",
  });
  const report = formatReport(results);
  assertMatch(report, /\nmessages \(\/v1\/messages .*\): 8100 req\/s @64 conn, 90\.0% of chat's; /);
  assertMatch(report, /\| messages 8100 \| tenant controls /);
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
  assertMatch(
    report,
    /\nstreams \(.*\): direct p50 0\.200 ms, .* gateway p50 0\.400 ms \(\+0\.200 ms\)/,
  );
  assertMatch(report, /\ngateway memory: idle after start 40\.0 MiB, peak \(VmHWM\) 100\.0 MiB/);
});

Deno.test("without a baseline the report says so and keeps the other columns and verdicts", () => {
  const report = formatReport(buildResults(measurements(null)));
  assertMatch(report, /\nfoundation: not measured \(--baseline=none\)\n/);
  assertEquals(report.includes("| foundation"), false);
  assertEquals(report.includes("CPU @64 conn, foundation"), false);
  assertMatch(report.split("\n").find((l) => l.startsWith("median"))!, /2 weighted mocks$/);
  assertEquals(report.split("\n").filter((l) => /^(PASS|FAIL) /.test(l)).length, 7);
});

Deno.test("the Responses API's verdict compares its rate with chat's in the same rounds", () => {
  const chat = summarize([sample(10000, 0.5)]);
  const verdict = judgeResponses(chat, summarize([sample(8500, 0.55)]));
  assertEquals(verdict.pass, true);
  assertMatch(verdict.detail, /^85\.0% \(8500 \/ 10000 req\/s\)/);
  assertEquals(judgeResponses(chat, summarize([sample(7900, 0.5)])).pass, false);
});

Deno.test("tenant controls pass at 97% of chat's rate in the same rounds and fail below it", () => {
  const chat = summarize([sample(10000, 0.5)]);
  assertEquals(judgeControls(chat, summarizeRates([rate(9700)])), {
    goal: "tenant controls keep ≥ 97% of chat's rate (issue 12, same run)",
    pass: true,
    detail: "97.0% (9700 / 10000 req/s)",
  });
  const slower = judgeControls(chat, summarizeRates([rate(9699)]));
  assertEquals([slower.pass, slower.detail], [false, "97.0% (9699 / 10000 req/s)"]);
  const medians = summarizeRates([rate(9800), rate(9000), rate(9600)]);
  assertEquals(judgeControls(chat, medians).detail, "96.0% (9600 / 10000 req/s)");
});

Deno.test("the report gives the tenant controls' rate, rounds, drained jobs and verdict", () => {
  const passing = formatReport(buildResults(measurements(null)));
  assertMatch(
    passing,
    /\nPASS {2}tenant controls keep ≥ 97% of chat's rate \(issue 12, same run\): 98\.0% \(8820 \/ 9000 req\/s\)$/,
  );
  assertMatch(
    passing,
    /\ntenant controls \(.*\): 8820 req\/s @64 conn, 98\.0% of chat's; 113 µs CPU\/request \(chat's 111 µs\)\n/,
  );
  assertMatch(passing, /\nrounds, req\/s @64: .* \| messages 8100 \| tenant controls 8820\n/);
  assertMatch(passing, /\nrounds, p50 @1 \(ms\): .* \| messages 0\.420\n/);
  assertMatch(passing, /; tenant controls 0 \(0\.00 s\)\. Rates count that time; /);

  const measured = measurements([sample(12000, 0.2)]);
  measured.rounds.controls = [rate(8600), { ...rate(9100), jobsQueuedAfter: 120 }, rate(8700)];
  const results = buildResults(measured);
  assertEquals(results.controlsShare, 8700 / 9000);
  const failing = formatReport(results);
  assertMatch(
    failing,
    /\nFAIL {2}tenant controls keep ≥ 97% of chat's rate \(issue 12, same run\): 96\.7% \(8700 \/ 9000 req\/s\)$/,
  );
  assertMatch(failing, /\| tenant controls 8600 {2}9100 {2}8700 \| foundation 12000\n/);
  assertMatch(failing, /; tenant controls 0 \(0\.00 s\) {2}120 \(0\.00 s\) {2}0 \(0\.00 s\)\./);
});
