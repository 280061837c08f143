/**
 * @module
 * The soak: whether the gateway's memory stays flat under a steady load. RSS is sampled every
 * 30 s; after a warm-up minute (the samples from 60 s on), the smallest RSS of the last third of
 * the samples may exceed the smallest of the first third by 5% at most: "no growth". The smallest,
 * as the heap's sawtooth puts each sample anywhere between the floor a collection returns to and
 * the top it grows to before the next: a leak raises the floor, while one sample taken near a top
 * says only when it was taken.
 */
import type { Verdict } from "./report.ts";

/** Seconds between two RSS samples. */
export const SOAK_SAMPLE_SECONDS = 30;
/** Samples before this are the warm-up: caches, JIT and pools still filling. */
export const SOAK_WARMUP_SECONDS = 60;
/** How much the last third's smallest RSS may exceed the first third's. */
export const SOAK_GROWTH_ALLOWED = 0.05;

/** The gateway's memory at one moment of the soak, in KiB. */
export interface RssSample {
  /** Seconds since the load started. */
  seconds: number;
  rssKiB: number;
  /** The peak so far (`VmHWM`). */
  peakKiB: number;
}

/** Judges "no growth" over the samples taken after the warm-up minute. */
export function judgeSoak(samples: RssSample[]): Verdict {
  const goal = `no RSS growth over the soak: after a ${SOAK_WARMUP_SECONDS} s warm-up, the ` +
    `last third's smallest RSS ≤ the first third's + ${SOAK_GROWTH_ALLOWED * 100}% (issue 16)`;
  const judged = samples.filter((sample) => sample.seconds >= SOAK_WARMUP_SECONDS);
  if (judged.length < 3) {
    return {
      goal,
      pass: false,
      detail: `only ${judged.length} samples after the warm-up: too few to judge`,
    };
  }
  const third = Math.floor(judged.length / 3);
  const smallest = (part: RssSample[]) => Math.min(...part.map((sample) => sample.rssKiB));
  const first = smallest(judged.slice(0, third));
  const last = smallest(judged.slice(-third));
  const growth = last / first - 1;
  return {
    goal,
    pass: growth <= SOAK_GROWTH_ALLOWED,
    detail: `${mib(last)} vs ${mib(first)} MiB (${growth >= 0 ? "+" : "−"}` +
      `${Math.abs(growth * 100).toFixed(1)}%) over ${judged.length} samples`,
  };
}

/** The soak's report: the load, one line per sample, and the verdict. */
export function formatSoak(
  load: { seconds: number; connections: number; requestsPerSecond: number; stack: string },
  pinning: string,
  samples: RssSample[],
  verdict: Verdict,
): string {
  return [
    `Gateway soak: ${load.seconds} s at ${load.connections} connections (wrk), ` +
    `${load.requestsPerSecond.toFixed(0)} req/s on average; gateway on the ${load.stack} stack`,
    pinning,
    "",
    "time (s)      RSS (MiB)   peak (MiB)",
    ...samples.map((sample) =>
      String(Math.round(sample.seconds)).padStart(8) + mib(sample.rssKiB).padStart(15) +
      mib(sample.peakKiB).padStart(13) +
      (sample.seconds < SOAK_WARMUP_SECONDS ? "   (warm-up)" : "")
    ),
    "",
    `${verdict.pass ? "PASS" : "FAIL"}  ${verdict.goal}: ${verdict.detail}`,
  ].join("\n");
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}
