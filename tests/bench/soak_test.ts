import { assertEquals, assertMatch } from "../assert.ts";
import { formatSoak, judgeSoak, type RssSample } from "./soak.ts";

const MIB = 1024;

/** Samples every 30 s from 0, one RSS (MiB) each. */
function samples(...rssMiB: number[]): RssSample[] {
  return rssMiB.map((rss, i) => ({ seconds: i * 30, rssKiB: rss * MIB, peakKiB: 120 * MIB }));
}

Deno.test("the warm-up minute's growth is not held against the gateway", () => {
  // 0 and 30 s are the warm-up; 60..300 s are judged: first third 60-120, last third 240-300.
  const verdict = judgeSoak(samples(40, 80, 100, 101, 99, 100, 102, 104, 105, 103, 103));
  assertEquals(verdict.pass, true);
  assertEquals(verdict.detail, "103.0 vs 99.0 MiB (+4.0%) over 9 samples");
});

Deno.test("more than 5% growth from the first third to the last is growth", () => {
  const verdict = judgeSoak(samples(40, 80, 100, 100, 100, 103, 104, 106, 107));
  assertEquals(verdict.pass, false);
  assertEquals(verdict.detail, "106.0 vs 100.0 MiB (+6.0%) over 7 samples");
});

Deno.test("one sample near the top of the heap's sawtooth late in the soak is not growth", () => {
  // The soak of 2026-12-03: a sample at 240 s caught the heap before a collection.
  const verdict = judgeSoak(
    samples(84.9, 187.5, 184.2, 181.5, 182.1, 184.9, 186.6, 177.5, 193.9, 176.1, 179.1),
  );
  assertEquals(verdict.pass, true);
  assertEquals(verdict.detail, "176.1 vs 181.5 MiB (−3.0%) over 9 samples");
});

Deno.test("fewer than three samples after the warm-up are too few to judge", () => {
  const verdict = judgeSoak(samples(40, 80, 100, 100));
  assertEquals(verdict.pass, false);
  assertEquals(verdict.detail, "only 2 samples after the warm-up: too few to judge");
});

Deno.test("the soak's report has one line per sample, the warm-up marked, and the verdict", () => {
  const taken = samples(40, 80, 100, 100, 100);
  const report = formatSoak(
    { seconds: 120, connections: 8, requestsPerSecond: 2000.4, stack: "embedded" },
    "pinned with taskset",
    taken,
    judgeSoak(taken),
  );
  assertMatch(report, /^Gateway soak: 120 s at 8 connections \(wrk\), 2000 req\/s on average;/);
  assertMatch(report, /\n {7}0 {11}40\.0 {8}120\.0 {3}\(warm-up\)\n/);
  assertMatch(report, /\n {6}60 {10}100\.0 {8}120\.0\n/);
  assertMatch(
    report,
    /\nPASS {2}no RSS growth over the soak: .*: 100\.0 vs 100\.0 MiB \(\+0\.0%\)/,
  );
});
