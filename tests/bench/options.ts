/**
 * @module
 * The benchmark's settings, from flags first and the environment second.
 */
import { parseArgs } from "node:util";

/** What the measured gateway runs on. */
export type Stack = "embedded" | "shared" | "shared-redis";

const STACKS: readonly Stack[] = ["embedded", "shared", "shared-redis"];

/** How long and how often the benchmark measures, and how it reports. */
export interface BenchOptions {
  /** Length of each measured wrk run. */
  durationSeconds: number;
  /** Rounds of direct and gateway runs, interleaved. */
  rounds: number;
  /** Length of the warm-up run of each target. */
  warmupSeconds: number;
  /** Also print the results as JSON. */
  json: boolean;
  /**
   * What the gateway runs on: `embedded` (SQLite, memory limiter and queue), `shared`
   * (PostgreSQL and Redis on their standard loopback ports, as several instances would share), or
   * `shared-redis` (the same, with reservations held in Redis: `QUOTA_HOLDS=redis`).
   */
  stack: Stack;
  /**
   * The git ref of the gateway to measure beside this one in the same run (the `foundation`
   * target), or null when turned off with `none`.
   */
  baseline: string | null;
  /**
   * With `--soak=5m`, the benchmark runs the soak instead of its rounds: a steady load on the
   * gateway for this many seconds, its RSS sampled every 30 s. Null without the flag.
   */
  soakSeconds: number | null;
  /**
   * With `--profile=<dir>`, a last step profiles one more chat gateway (`deno run --cpu-prof`,
   * its profiles written to this folder) under 1 and then 64 connections and prints where each
   * run's CPU went per request, by phase. Null without the flag.
   */
  profileDir: string | null;
}

/**
 * The foundation: the last commit of the foundation issue ("Call upstreams through the gateway's
 * HTTP/1.1 keep-alive pool"), before the money path (rate limits, quota reservation and billing
 * enqueue on top of its key authentication). Issue 3 asks the money path to keep 75% of its throughput, which only
 * means something when both are measured in the same run on the same machine.
 */
export const FOUNDATION_REF = "751656d";

/** How to call the benchmark, shown with an options error. */
export const USAGE =
  "Usage: deno task bench [--duration=5s] [--rounds=3] [--warmup=3s] [--stack=embedded|shared|shared-redis]" +
  " [--baseline=<git ref>|none] [--json] [--soak=5m] [--profile=<dir>]\n" +
  "  or set BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP, BENCH_STACK, BENCH_BASELINE, BENCH_SOAK," +
  " BENCH_PROFILE.";

/** Reads the options from `args` (flags) and `env` (`BENCH_DURATION`, ...); throws on bad input. */
export function parseBenchOptions(
  args: string[],
  env: Record<string, string | undefined>,
): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      json: { type: "boolean", default: false },
      stack: { type: "string" },
      baseline: { type: "string" },
      soak: { type: "string" },
      profile: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const soak = values.soak ?? env.BENCH_SOAK;
  const soakSeconds = soakOf(soak);
  const profileDir = profileOf(values.profile ?? env.BENCH_PROFILE);
  if (soakSeconds !== null && profileDir !== null) {
    throw new RangeError(
      "Cannot run the benchmark as 'profile' follows the rounds, which 'soak' replaces: current " +
        `values are '${profileDir}' and '${soak}'`,
    );
  }
  return {
    durationSeconds: whole("duration", values.duration ?? env.BENCH_DURATION ?? "5s", 1, 300),
    rounds: whole("rounds", values.rounds ?? env.BENCH_ROUNDS ?? "3", 1, 20),
    warmupSeconds: whole("warmup", values.warmup ?? env.BENCH_WARMUP ?? "3s", 1, 60),
    json: values.json ?? false,
    stack: stackOf(values.stack ?? env.BENCH_STACK ?? "embedded"),
    baseline: baselineOf(values.baseline ?? env.BENCH_BASELINE ?? FOUNDATION_REF),
    soakSeconds,
    profileDir,
  };
}

function profileOf(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (raw.trim() !== "") return raw;
  throw new RangeError(
    "Cannot run the benchmark as 'profile' must be a folder for the CPU profiles: current value " +
      "is ''",
  );
}

/** The shortest soak: a warm-up minute, then enough 30 s samples for thirds of one each. */
export const MIN_SOAK_SECONDS = 120;
const MAX_SOAK_SECONDS = 4 * 3600;

function soakOf(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  // "5m", "300s" and "300" mean the same; whole minutes or seconds keep wrk's -d exact.
  const match = /^(\d+)(s|m)?$/.exec(raw.trim());
  const seconds = match ? Number(match[1]) * (match[2] === "m" ? 60 : 1) : NaN;
  if (seconds >= MIN_SOAK_SECONDS && seconds <= MAX_SOAK_SECONDS) return seconds;
  throw new RangeError(
    `Cannot run the benchmark as 'soak' must be a duration from ${MIN_SOAK_SECONDS / 60}m to ` +
      `${
        MAX_SOAK_SECONDS / 60
      }m in whole minutes (5m) or seconds (300s): current value is '${raw}'`,
  );
}

function baselineOf(raw: string): string | null {
  const ref = raw.trim();
  if (ref === "none") return null;
  // git would read a leading dash as an option; anything else git itself judges.
  if (/^[^-\s]\S*$/.test(ref)) return ref;
  throw new RangeError(
    `Cannot run the benchmark as 'baseline' must be a git ref (a commit, tag or branch) or none: ` +
      `current value is '${raw}'`,
  );
}

function stackOf(raw: string): Stack {
  const stack = STACKS.find((each) => each === raw);
  if (stack) return stack;
  throw new RangeError(
    `Cannot run the benchmark as 'stack' must be embedded, shared or shared-redis: current value is '${raw}'`,
  );
}

function whole(name: string, raw: string, min: number, max: number): number {
  // wrk takes whole seconds; "5" and "5s" mean the same.
  const text = raw.trim().replace(/s$/, "");
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new RangeError(
      `Cannot run the benchmark as '${name}' must be a whole number from ${min} to ${max}` +
        `${name === "rounds" ? "" : " (seconds)"}: current value is '${raw}'`,
    );
  }
  return value;
}
