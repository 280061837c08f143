/**
 * @module
 * The benchmark's settings, from flags first and the environment second.
 */
import { parseArgs } from "node:util";

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
   * What the gateway runs on: `embedded` (SQLite, memory limiter and queue) or `shared`
   * (PostgreSQL and Redis on their standard loopback ports, as several instances would share).
   */
  stack: "embedded" | "shared";
}

/** How to call the benchmark, shown with an options error. */
export const USAGE =
  "Usage: deno task bench [--duration=5s] [--rounds=3] [--warmup=3s] [--stack=embedded|shared]" +
  " [--json]\n  or set BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP, BENCH_STACK.";

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
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    durationSeconds: whole("duration", values.duration ?? env.BENCH_DURATION ?? "5s", 1, 300),
    rounds: whole("rounds", values.rounds ?? env.BENCH_ROUNDS ?? "3", 1, 20),
    warmupSeconds: whole("warmup", values.warmup ?? env.BENCH_WARMUP ?? "3s", 1, 60),
    json: values.json ?? false,
    stack: stackOf(values.stack ?? env.BENCH_STACK ?? "embedded"),
  };
}

function stackOf(raw: string): "embedded" | "shared" {
  if (raw === "embedded" || raw === "shared") return raw;
  throw new RangeError(
    `Cannot run the benchmark as 'stack' must be embedded or shared: current value is '${raw}'`,
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
