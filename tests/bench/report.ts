/**
 * @module
 * Turns the benchmark's rounds into medians, the issue's verdicts and a table.
 */
import type { ProcessMemory } from "./procfs.ts";

/** What one round measured for one target (direct to the mock, or through a gateway). */
export interface RoundSample {
  /**
   * Requests per second at 64 connections, counting the time the gateway took after the run to
   * finish the jobs (billing, audit) its requests had queued: the rate it can keep up.
   */
  requestsPerSecond: number;
  /** Requests per second as wrk saw them, during the run only. */
  wrkRequestsPerSecond: number;
  /** Jobs still queued when the run ended, and the seconds the gateway took to finish them. */
  jobsQueuedAfter: number;
  drainSeconds: number;
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

/** One line of the issue's acceptance: a goal, whether it held, and the figures. */
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
    /** The commit measured as `foundation`, or null when the baseline was turned off. */
    baseline: BaselineInfo | null;
  };
  direct: TargetSummary;
  /** Through the least proxy Deno can be (floor_proxy.ts): what a share of direct can reach. */
  floor: TargetSummary;
  gateway: TargetSummary;
  /** Through a gateway routing over two weighted deployments (two mock processes). */
  routed: TargetSummary;
  /** `/v1/messages` through the gateway, translated to and from the OpenAI-format mock. */
  messages: TargetSummary;
  /** Through the baseline commit's gateway (embedded stack), in the same rounds; null when off. */
  foundation: TargetSummary | null;
  /** `/v1/responses` through the gateway, translated to the mock's chat; null when not run. */
  responses: TargetSummary | null;
  /** Gateway rate divided by direct rate, at 64 connections. */
  ratio: number;
  /** The floor proxy's rate divided by direct rate, at 64 connections. */
  floorRatio: number;
  /** Gateway p50 minus direct p50 at 1 connection, in milliseconds. */
  addedP50Ms: number;
  /** The `/v1/messages` rate divided by the chat route's, at 64 connections (issue 13). */
  messagesShare: number;
  /** Gateway rate divided by the foundation's, at 64 connections; null without a baseline. */
  foundationShare: number | null;
  /** Foundation p50 minus direct p50 at 1 connection, in milliseconds; null without a baseline. */
  foundationAddedP50Ms: number | null;
  gatewayMemory: ProcessMemory;
  /** The foundation's memory at the end; null without a baseline. */
  foundationMemory: ProcessMemory | null;
  verdicts: Verdict[];
}

/** Which commit the `foundation` target ran. */
export interface BaselineInfo {
  ref: string;
  commit: string;
  subject: string;
}

/**
 * The issues' goals: issue 2's added latency, rate and share of direct, and issue 3's share of
 * the foundation's rate that the money path must keep.
 */
export const GOALS = {
  maxAddedP50Ms: 0.5,
  minGatewayRps: 8000,
  minRatio: 0.4,
  minFoundationShare: 0.75,
  minMessagesShare: 0.85,
  minResponsesShare: 0.8,
} as const;

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
    wrkRequestsPerSecond: of((s) => s.wrkRequestsPerSecond),
    jobsQueuedAfter: of((s) => s.jobsQueuedAfter),
    drainSeconds: of((s) => s.drainSeconds),
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

/** What one run measured, before the medians and ratios. */
export interface BenchMeasurements {
  settings: BenchResults["settings"];
  rounds: {
    direct: RoundSample[];
    floor: RoundSample[];
    gateway: RoundSample[];
    routed: RoundSample[];
    messages: RoundSample[];
    /** Null when the baseline was turned off. */
    foundation: RoundSample[] | null;
    /** `/v1/responses` on the gateway, in the same rounds as chat. */
    responses?: RoundSample[];
  };
  gatewayMemory: ProcessMemory;
  foundationMemory: ProcessMemory | null;
}

/** Takes the medians, the ratios between targets and the verdicts of one run. */
export function buildResults(measured: BenchMeasurements): BenchResults {
  const direct = summarize(measured.rounds.direct);
  const floor = summarize(measured.rounds.floor);
  const gateway = summarize(measured.rounds.gateway);
  const foundation = measured.rounds.foundation ? summarize(measured.rounds.foundation) : null;
  const messages = summarize(measured.rounds.messages);
  const responses = measured.rounds.responses ? summarize(measured.rounds.responses) : null;
  const messagesShare = messages.requestsPerSecond / gateway.requestsPerSecond;
  const messagesVerdict: Verdict = {
    goal: `/v1/messages keeps ≥ ${GOALS.minMessagesShare * 100}% of the chat route's rate ` +
      "(issue 13, same run)",
    pass: messagesShare >= GOALS.minMessagesShare,
    detail: `${percent(messagesShare)} (${rps(messages.requestsPerSecond)} / ${
      rps(gateway.requestsPerSecond)
    } req/s)`,
  };
  return {
    settings: measured.settings,
    direct,
    floor,
    gateway,
    routed: summarize(measured.rounds.routed),
    messages,
    foundation,
    responses,
    ratio: gateway.requestsPerSecond / direct.requestsPerSecond,
    floorRatio: floor.requestsPerSecond / direct.requestsPerSecond,
    addedP50Ms: gateway.p50Ms - direct.p50Ms,
    messagesShare,
    foundationShare: foundation ? gateway.requestsPerSecond / foundation.requestsPerSecond : null,
    foundationAddedP50Ms: foundation ? foundation.p50Ms - direct.p50Ms : null,
    gatewayMemory: measured.gatewayMemory,
    foundationMemory: measured.foundationMemory,
    verdicts: [
      ...judge(direct, gateway, foundation),
      messagesVerdict,
      ...(responses ? [judgeResponses(gateway, responses)] : []),
    ],
  };
}

/** Issue 15's goal: the Responses API keeps most of the chat route's rate, in the same rounds. */
export function judgeResponses(gateway: TargetSummary, responses: TargetSummary): Verdict {
  const share = responses.requestsPerSecond / gateway.requestsPerSecond;
  return {
    goal: `/v1/responses keeps ≥ ${GOALS.minResponsesShare * 100}% of chat's rate ` +
      "(issue 15, same run)",
    pass: share >= GOALS.minResponsesShare,
    detail: `${percent(share)} (${rps(responses.requestsPerSecond)} / ${
      rps(gateway.requestsPerSecond)
    } req/s); p50 @1 conn ${ms(responses.p50Ms)} ms vs chat ${ms(gateway.p50Ms)} ms; gateway CPU ${
      responses.gatewayCpuUsPerRequest.toFixed(0)
    } µs/request vs chat ${gateway.gatewayCpuUsPerRequest.toFixed(0)} µs`,
  };
}

/**
 * Compares the gateway with the direct path against the issues' goals, and with the foundation
 * measured in the same run when there is one.
 */
export function judge(
  direct: TargetSummary,
  gateway: TargetSummary,
  foundation: TargetSummary | null = null,
): Verdict[] {
  const added = gateway.p50Ms - direct.p50Ms;
  const ratio = gateway.requestsPerSecond / direct.requestsPerSecond;
  const againstFoundation: Verdict[] = [];
  if (foundation) {
    const share = gateway.requestsPerSecond / foundation.requestsPerSecond;
    const foundationAdded = foundation.p50Ms - direct.p50Ms;
    againstFoundation.push(
      {
        goal: `money path keeps ≥ ${GOALS.minFoundationShare * 100}% of the foundation's rate ` +
          "(issue 3, same run)",
        pass: share >= GOALS.minFoundationShare,
        detail: `${percent(share)} (${rps(gateway.requestsPerSecond)} / ${
          rps(foundation.requestsPerSecond)
        } req/s)`,
      },
      {
        goal: `foundation's added p50 at 1 connection ≤ ${GOALS.maxAddedP50Ms} ms ` +
          "(issue 2, for reference)",
        pass: foundationAdded <= GOALS.maxAddedP50Ms,
        detail: `${signed(foundationAdded)} ms (foundation ${ms(foundation.p50Ms)} − direct ${
          ms(direct.p50Ms)
        })`,
      },
    );
  }
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
    ...againstFoundation,
  ];
}

/** The human-readable report: a table, the rounds, CPU and memory, and one verdict per goal. */
export function formatReport(results: BenchResults): string {
  const { direct, floor, gateway, routed, messages, foundation, settings } = results;
  const widths = [14, 14, 16, 18, 20];
  const row = (label: string, ...cells: string[]) =>
    label.padEnd(26) + cells.map((cell, i) => cell.padStart(widths[i])).join("");
  const withFoundation = (cells: string[], cell: (f: TargetSummary) => string) =>
    foundation ? [...cells, cell(foundation)] : cells;
  const list = (rounds: RoundSample[], pick: (s: RoundSample) => string) =>
    rounds.map(pick).join("  ");
  const roundsLine = (title: string, pick: (s: RoundSample) => string) =>
    `${title}direct ${list(direct.rounds, pick)} | floor ${list(floor.rounds, pick)}` +
    ` | gateway ${list(gateway.rounds, pick)}` +
    ` | 2 weighted mocks ${list(routed.rounds, pick)}` +
    ` | messages ${list(messages.rounds, pick)}` +
    (results.responses ? ` | /v1/responses ${list(results.responses.rounds, pick)}` : "") +
    (foundation ? ` | foundation ${list(foundation.rounds, pick)}` : "");
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const baseline = settings.baseline;
  return [
    `Gateway benchmark: ${settings.rounds} rounds × ${settings.durationSeconds} s per run, ` +
    `${settings.warmupSeconds} s warm-up per target, ${settings.cpus} CPUs shared by wrk, ` +
    `mock and gateway; gateway on the ${settings.stack} stack`,
    baseline
      ? `foundation: ${baseline.commit} ("${baseline.subject}"), from '${baseline.ref}' in a ` +
        "temporary git worktree, embedded stack, measured in the same rounds"
      : "foundation: not measured (--baseline=none)",
    "",
    row(
      "median",
      ...withFoundation(
        ["direct (mock)", "gateway", "gateway−direct", "2 weighted mocks"],
        () => "foundation",
      ),
    ),
    row(
      "req/s @64 conn (2 thr)",
      ...withFoundation(
        [
          rps(direct.requestsPerSecond),
          rps(gateway.requestsPerSecond),
          percent(results.ratio) + " of direct",
          rps(routed.requestsPerSecond),
        ],
        (f) => rps(f.requestsPerSecond),
      ),
    ),
    row(
      "p50 @1 conn",
      ...withFoundation(
        [
          `${ms(direct.p50Ms)} ms`,
          `${ms(gateway.p50Ms)} ms`,
          `${signed(results.addedP50Ms)} ms`,
          `${ms(routed.p50Ms)} ms`,
        ],
        (f) => `${ms(f.p50Ms)} ms`,
      ),
    ),
    row(
      "p99 @1 conn",
      ...withFoundation(
        [
          `${ms(direct.p99Ms)} ms`,
          `${ms(gateway.p99Ms)} ms`,
          `${signed(gateway.p99Ms - direct.p99Ms)} ms`,
          `${ms(routed.p99Ms)} ms`,
        ],
        (f) => `${ms(f.p99Ms)} ms`,
      ),
    ),
    `floor proxy (Deno.serve + fetch, nothing else: the least a Deno gateway does): ` +
    `${rps(floor.requestsPerSecond)} req/s @64 conn, ${percent(results.floorRatio)} of direct; ` +
    `p50 @1 conn ${ms(floor.p50Ms)} ms (${signed(floor.p50Ms - direct.p50Ms)} ms)`,
    `messages (/v1/messages through the gateway, translated for the OpenAI-format mock): ` +
    `${rps(messages.requestsPerSecond)} req/s @64 conn, ${percent(results.messagesShare)} of ` +
    `chat's; p50 @1 conn ${ms(messages.p50Ms)} ms ` +
    `(${signed(messages.p50Ms - gateway.p50Ms)} ms on chat's), ` +
    `${messages.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request`,
    "",
    roundsLine("rounds, req/s @64:   ", (s) => rps(s.requestsPerSecond)),
    roundsLine("rounds, p50 @1 (ms): ", (s) => ms(s.p50Ms)),
    `jobs queued when a 64-conn run ended, then the seconds to finish them: gateway ${
      list(gateway.rounds, (s) => `${s.jobsQueuedAfter} (${s.drainSeconds.toFixed(2)} s)`)
    }; 2 weighted mocks ${
      list(routed.rounds, (s) => `${s.jobsQueuedAfter} (${s.drainSeconds.toFixed(2)} s)`)
    }. Rates count that time; wrk's own: gateway ${
      list(gateway.rounds, (s) => rps(s.wrkRequestsPerSecond))
    }`,
    `CPU @64 conn (cores): gateway ${gateway.gatewayCores.toFixed(2)}, of which main JS ` +
    `thread ${gateway.gatewayMainCores.toFixed(2)} ` +
    `(${gateway.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request), ` +
    `mock ${gateway.mockCores.toFixed(2)} behind the gateway, ${
      direct.mockCores.toFixed(2)
    } direct`,
    `CPU @64 conn, 2 weighted mocks (cores): gateway ${routed.gatewayCores.toFixed(2)} ` +
    `(${routed.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request), both mocks ` +
    `${routed.mockCores.toFixed(2)}`,
    ...(foundation
      ? [
        `CPU @64 conn, foundation (cores): gateway ${foundation.gatewayCores.toFixed(2)}, of ` +
        `which main JS thread ${foundation.gatewayMainCores.toFixed(2)} ` +
        `(${foundation.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request), mock ` +
        `${foundation.mockCores.toFixed(2)}`,
      ]
      : []),
    `machine CPU busy @64 conn: ${direct.machineCores.toFixed(2)} of ${settings.cpus} cores ` +
    `direct, ${gateway.machineCores.toFixed(2)} through the gateway` +
    (foundation ? `, ${foundation.machineCores.toFixed(2)} through the foundation` : "") +
    " (what gateway and mock do not use is wrk's and other processes')",
    `gateway memory: peak (VmHWM) ${mib(results.gatewayMemory.peakKiB)}, ` +
    `RSS at end ${mib(results.gatewayMemory.rssKiB)}` +
    (results.foundationMemory
      ? `; foundation peak ${mib(results.foundationMemory.peakKiB)}, ` +
        `RSS at end ${mib(results.foundationMemory.rssKiB)}`
      : ""),
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
