/**
 * @module
 * Turns the benchmark's rounds into medians, the verdicts and a table.
 */
import type { ProcessMemory } from "./procfs.ts";

/** What one round measured for one target (direct to the mock, or through the gateway). */
export interface RoundSample {
  /** Requests per second at 64 connections. */
  requestsPerSecond: number;
  /** Latency percentiles at 1 connection, in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  /** CPU cores the processes used during the 64-connection run. */
  gatewayCores: number;
  /** Of which the gateway's main thread, where all its JavaScript runs. */
  gatewayMainCores: number;
  mockCores: number;
  /** CPU cores busy on the whole machine during that run: ours, wrk's and everyone else's. */
  machineCores: number;
}

/** The medians of one target over its rounds, with the rounds kept for the record. */
export interface TargetSummary extends RoundSample {
  /** Gateway CPU time per request during the 64-connection runs, in microseconds. */
  gatewayCpuUsPerRequest: number;
  rounds: RoundSample[];
}

/** One line of the acceptance: a goal, whether it held, and the figures. */
export interface Verdict {
  goal: string;
  pass: boolean;
  detail: string;
}

/** Everything one benchmark run found. */
export interface BenchResults {
  settings: {
    durationSeconds: number;
    rounds: number;
    warmupSeconds: number;
    stack: string;
    cpus: number;
  };
  direct: TargetSummary;
  gateway: TargetSummary;
  /** Through a gateway routing over two weighted deployments (two mock processes). */
  routed: TargetSummary;
  /** Gateway rate divided by direct rate, at 64 connections. */
  ratio: number;
  /** Gateway p50 minus direct p50 at 1 connection, in milliseconds. */
  addedP50Ms: number;
  gatewayMemory: ProcessMemory;
  verdicts: Verdict[];
}

/** The goals. */
export const GOALS = { maxAddedP50Ms: 0.5, minGatewayRps: 8000, minRatio: 0.4 } as const;

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new RangeError("Cannot take the median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Takes the per-metric median of one target's rounds. */
export function summarize(rounds: RoundSample[]): TargetSummary {
  const of = (pick: (sample: RoundSample) => number) => median(rounds.map(pick));
  return {
    requestsPerSecond: of((s) => s.requestsPerSecond),
    p50Ms: of((s) => s.p50Ms),
    p99Ms: of((s) => s.p99Ms),
    gatewayCores: of((s) => s.gatewayCores),
    gatewayMainCores: of((s) => s.gatewayMainCores),
    mockCores: of((s) => s.mockCores),
    machineCores: of((s) => s.machineCores),
    gatewayCpuUsPerRequest: of((s) => s.gatewayCores * 1e6 / s.requestsPerSecond),
    rounds,
  };
}

/** Compares the gateway with the direct path against the goals. */
export function judge(direct: TargetSummary, gateway: TargetSummary): Verdict[] {
  const added = gateway.p50Ms - direct.p50Ms;
  const ratio = gateway.requestsPerSecond / direct.requestsPerSecond;
  return [
    {
      goal: `added p50 at 1 connection ≤ ${GOALS.maxAddedP50Ms} ms`,
      pass: added <= GOALS.maxAddedP50Ms,
      detail: `${signed(added)} ms (gateway ${ms(gateway.p50Ms)} − direct ${ms(direct.p50Ms)})`,
    },
    {
      goal: `≥ ${GOALS.minGatewayRps} req/s at 64 connections`,
      pass: gateway.requestsPerSecond >= GOALS.minGatewayRps,
      detail: `${rps(gateway.requestsPerSecond)} req/s through the gateway`,
    },
    {
      goal: `≥ ${GOALS.minRatio * 100}% of direct rate`,
      pass: ratio >= GOALS.minRatio,
      detail: `${percent(ratio)} (${rps(gateway.requestsPerSecond)} / ${
        rps(direct.requestsPerSecond)
      } req/s)`,
    },
  ];
}

/** The human-readable report: a table, the rounds, CPU and memory, and one verdict per goal. */
export function formatReport(results: BenchResults): string {
  const { direct, gateway, routed, settings } = results;
  const row = (label: string, d: string, g: string, delta: string, r: string) =>
    `${label.padEnd(26)}${d.padStart(14)}${g.padStart(14)}${delta.padStart(16)}${r.padStart(18)}`;
  const list = (rounds: RoundSample[], pick: (s: RoundSample) => string) =>
    rounds.map(pick).join("  ");
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  return [
    `Gateway benchmark: ${settings.rounds} rounds × ${settings.durationSeconds} s per run, ` +
    `${settings.warmupSeconds} s warm-up per target, ${settings.cpus} CPUs shared by wrk, ` +
    `mock and gateway; gateway on the ${settings.stack} stack`,
    "",
    row("median", "direct (mock)", "gateway", "gateway−direct", "2 weighted mocks"),
    row(
      "req/s @64 conn (2 thr)",
      rps(direct.requestsPerSecond),
      rps(gateway.requestsPerSecond),
      percent(results.ratio) + " of direct",
      rps(routed.requestsPerSecond),
    ),
    row(
      "p50 @1 conn",
      `${ms(direct.p50Ms)} ms`,
      `${ms(gateway.p50Ms)} ms`,
      `${signed(results.addedP50Ms)} ms`,
      `${ms(routed.p50Ms)} ms`,
    ),
    row(
      "p99 @1 conn",
      `${ms(direct.p99Ms)} ms`,
      `${ms(gateway.p99Ms)} ms`,
      `${signed(gateway.p99Ms - direct.p99Ms)} ms`,
      `${ms(routed.p99Ms)} ms`,
    ),
    "",
    `rounds, req/s @64:   direct ${list(direct.rounds, (s) => rps(s.requestsPerSecond))}` +
    ` | gateway ${list(gateway.rounds, (s) => rps(s.requestsPerSecond))}` +
    ` | 2 weighted mocks ${list(routed.rounds, (s) => rps(s.requestsPerSecond))}`,
    `rounds, p50 @1 (ms): direct ${list(direct.rounds, (s) => ms(s.p50Ms))}` +
    ` | gateway ${list(gateway.rounds, (s) => ms(s.p50Ms))}` +
    ` | 2 weighted mocks ${list(routed.rounds, (s) => ms(s.p50Ms))}`,
    `CPU @64 conn (cores): gateway ${gateway.gatewayCores.toFixed(2)}, of which main JS ` +
    `thread ${gateway.gatewayMainCores.toFixed(2)} ` +
    `(${gateway.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request), ` +
    `mock ${gateway.mockCores.toFixed(2)} behind the gateway, ${
      direct.mockCores.toFixed(2)
    } direct`,
    `CPU @64 conn, 2 weighted mocks (cores): gateway ${routed.gatewayCores.toFixed(2)} ` +
    `(${routed.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request), both mocks ` +
    `${routed.mockCores.toFixed(2)}`,
    `machine CPU busy @64 conn: ${direct.machineCores.toFixed(2)} of ${settings.cpus} cores ` +
    `direct, ${gateway.machineCores.toFixed(2)} through the gateway ` +
    `(what gateway and mock do not use is wrk's and other processes')`,
    `gateway memory: peak (VmHWM) ${mib(results.gatewayMemory.peakKiB)}, ` +
    `RSS at end ${mib(results.gatewayMemory.rssKiB)}`,
    "",
    ...results.verdicts.map((v) => `${v.pass ? "PASS" : "FAIL"}  ${v.goal}: ${v.detail}`),
  ].join("\n");
}

function rps(value: number): string {
  return value.toFixed(0);
}

function ms(value: number): string {
  return value.toFixed(3);
}

function signed(value: number): string {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(3)}`;
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
