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

/** What one round's 64-connection run measured, for a target measured for its rate alone. */
export type RateSample = Omit<RoundSample, "p50Ms" | "p99Ms">;

/** The medians of one rate-only target over its rounds, with the rounds kept for the record. */
export interface RateSummary extends RateSample {
  /** Gateway CPU time per request during the 64-connection runs, in microseconds. */
  gatewayCpuUsPerRequest: number;
  rounds: RateSample[];
}

/** The medians of one target over its rounds, with the rounds kept for the record. */
export interface TargetSummary extends RateSummary, RoundSample {
  rounds: RoundSample[];
}

/** What one round of sequential streamed chat requests measured, for one target. */
export interface StreamSample {
  /** Streamed requests sent over one keep-alive connection. */
  requests: number;
  /** Time from sending a request to its answer's first body byte, in milliseconds. */
  firstChunkP50Ms: number;
  firstChunkP99Ms: number;
}

/** The medians of one target's stream rounds, with the rounds kept for the record. */
export interface StreamSummary extends StreamSample {
  rounds: StreamSample[];
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
    /** What was pinned to which CPUs, or why nothing was. */
    pinning: string;
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
  /** Streamed chat requests' first chunk, direct to the mock and through the gateway. */
  streams: { direct: StreamSummary; gateway: StreamSummary };
  /** `/v1/responses` through the gateway, translated to the mock's chat; null when not run. */
  responses: TargetSummary | null;
  /**
   * Chat through the gateway with a key under tenant controls (model allowlists and period
   * budgets on the tenant and the key), at 64 connections only.
   */
  controls: RateSummary;
  /** Gateway rate divided by direct rate, at 64 connections. */
  ratio: number;
  /** The floor proxy's rate divided by direct rate, at 64 connections. */
  floorRatio: number;
  /** Gateway p50 minus direct p50 at 1 connection, in milliseconds. */
  addedP50Ms: number;
  /** Gateway p99 minus direct p99 at 1 connection, in milliseconds. */
  addedP99Ms: number;
  /** The gateway's rate divided by the floor proxy's, at 64 connections (issue 16). */
  floorShare: number;
  /** Gateway minus direct p50 of a stream's first chunk, in milliseconds. */
  streamAddedP50Ms: number;
  /** The `/v1/messages` rate divided by the chat route's, at 64 connections (issue 13). */
  messagesShare: number;
  /** The tenant controls' chat rate divided by chat's, at 64 connections (issue 12). */
  controlsShare: number;
  /** Gateway rate divided by the foundation's, at 64 connections; null without a baseline. */
  foundationShare: number | null;
  /** Foundation p50 minus direct p50 at 1 connection, in milliseconds; null without a baseline. */
  foundationAddedP50Ms: number | null;
  /** The gateway's memory at the end: its peak covers every run, the 64-connection ones too. */
  gatewayMemory: ProcessMemory;
  /** The gateway's memory after start and the smoke test, before any load. */
  gatewayIdleMemory: ProcessMemory;
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
 * The issues' goals: issue 16's latency, rate, memory and stream figures of the gateway (per
 * core, beside direct and the floor proxy in the same run), issue 3's share of the foundation's
 * rate that the money path must keep, issue 13's share of the chat route for `/v1/messages`,
 * and issue 12's share of chat's rate that a key under tenant controls keeps.
 */
export const GOALS = {
  /** Added p50 at 1 connection on the embedded stack. */
  maxAddedP50Ms: 0.35,
  /** Added p50 at 1 connection on the shared stacks (PostgreSQL and Redis). */
  maxSharedAddedP50Ms: 0.6,
  /** Added p99 at 1 connection on the embedded stack. */
  maxAddedP99Ms: 1,
  minFloorShare: 0.8,
  maxPeakMiB: 110,
  maxIdleMiB: 60,
  maxStreamAddedP50Ms: 0.3,
  minFoundationShare: 0.75,
  minMessagesShare: 0.85,
  minResponsesShare: 0.8,
  minControlsShare: 0.97,
} as const;

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new RangeError("Cannot take the median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * The `fraction` percentile (0.5, 0.99) of `values` by nearest rank: the smallest value that at
 * least that fraction of the values do not exceed.
 */
export function percentile(values: number[], fraction: number): number {
  if (values.length === 0) throw new RangeError("Cannot take a percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/** Takes the median of one target's stream rounds. */
export function summarizeStreams(rounds: StreamSample[]): StreamSummary {
  const of = (pick: (sample: StreamSample) => number) => median(rounds.map(pick));
  return {
    requests: of((s) => s.requests),
    firstChunkP50Ms: of((s) => s.firstChunkP50Ms),
    firstChunkP99Ms: of((s) => s.firstChunkP99Ms),
    rounds,
  };
}

/** Takes the per-metric median of one target's rounds. */
export function summarize(rounds: RoundSample[]): TargetSummary {
  const of = (pick: (sample: RoundSample) => number) => median(rounds.map(pick));
  return {
    ...summarizeRates(rounds),
    p50Ms: of((s) => s.p50Ms),
    p99Ms: of((s) => s.p99Ms),
    rounds,
  };
}

/** Takes the per-metric median of the 64-connection figures of one target's rounds. */
export function summarizeRates(rounds: RateSample[]): RateSummary {
  const of = (pick: (sample: RateSample) => number) => median(rounds.map(pick));
  return {
    requestsPerSecond: of((s) => s.requestsPerSecond),
    wrkRequestsPerSecond: of((s) => s.wrkRequestsPerSecond),
    jobsQueuedAfter: of((s) => s.jobsQueuedAfter),
    drainSeconds: of((s) => s.drainSeconds),
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
    /** Chat on the same gateway with a key under tenant controls, at 64 connections only. */
    controls: RateSample[];
  };
  streams: { direct: StreamSample[]; gateway: StreamSample[] };
  gatewayMemory: ProcessMemory;
  gatewayIdleMemory: ProcessMemory;
  foundationMemory: ProcessMemory | null;
}

/** Takes the medians, the ratios between targets and the verdicts of one run. */
export function buildResults(measured: BenchMeasurements): BenchResults {
  const direct = summarize(measured.rounds.direct);
  const floor = summarize(measured.rounds.floor);
  const gateway = summarize(measured.rounds.gateway);
  const foundation = measured.rounds.foundation ? summarize(measured.rounds.foundation) : null;
  const messages = summarize(measured.rounds.messages);
  const streams = {
    direct: summarizeStreams(measured.streams.direct),
    gateway: summarizeStreams(measured.streams.gateway),
  };
  const responses = measured.rounds.responses ? summarize(measured.rounds.responses) : null;
  const controls = summarizeRates(measured.rounds.controls);
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
    streams,
    responses,
    controls,
    ratio: gateway.requestsPerSecond / direct.requestsPerSecond,
    floorRatio: floor.requestsPerSecond / direct.requestsPerSecond,
    addedP50Ms: gateway.p50Ms - direct.p50Ms,
    addedP99Ms: gateway.p99Ms - direct.p99Ms,
    floorShare: gateway.requestsPerSecond / floor.requestsPerSecond,
    streamAddedP50Ms: streams.gateway.firstChunkP50Ms - streams.direct.firstChunkP50Ms,
    messagesShare,
    controlsShare: controls.requestsPerSecond / gateway.requestsPerSecond,
    foundationShare: foundation ? gateway.requestsPerSecond / foundation.requestsPerSecond : null,
    foundationAddedP50Ms: foundation ? foundation.p50Ms - direct.p50Ms : null,
    gatewayMemory: measured.gatewayMemory,
    gatewayIdleMemory: measured.gatewayIdleMemory,
    foundationMemory: measured.foundationMemory,
    verdicts: [
      ...judge({
        stack: measured.settings.stack,
        direct,
        floor,
        gateway,
        streams,
        memory: { idle: measured.gatewayIdleMemory, end: measured.gatewayMemory },
      }),
      ...judgeFoundation(gateway, foundation),
      messagesVerdict,
      ...(responses ? [judgeResponses(gateway, responses)] : []),
      judgeControls(gateway, controls),
    ],
  };
}

/**
 * Issue 12's goal: model allowlists and period budgets on the tenant and the key lower chat's
 * rate by at most 3%, against a key with the same rate limits on the same gateway, same rounds.
 */
export function judgeControls(gateway: RateSummary, controls: RateSummary): Verdict {
  const share = controls.requestsPerSecond / gateway.requestsPerSecond;
  return {
    goal: `tenant controls keep ≥ ${GOALS.minControlsShare * 100}% of chat's rate ` +
      "(issue 12, same run)",
    pass: share >= GOALS.minControlsShare,
    detail: `${percent(share)} (${rps(controls.requestsPerSecond)} / ${
      rps(gateway.requestsPerSecond)
    } req/s)`,
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

/** What issue 16's goals are judged on: medians of one run, and the gateway's memory. */
export interface Issue16Figures {
  /** The stack the gateway ran on: the p50 goal differs between embedded and shared. */
  stack: string;
  direct: TargetSummary;
  floor: TargetSummary;
  gateway: TargetSummary;
  streams: { direct: StreamSummary; gateway: StreamSummary };
  memory: { idle: ProcessMemory; end: ProcessMemory };
}

/**
 * Judges issue 16's goals: the added latency at 1 connection (p50 on every stack, its goal the
 * embedded or the shared one; p99 on the embedded stack, where the issue sets it), the share of
 * the floor proxy's rate, the peak and idle memory, and the streams' first chunk.
 */
export function judge(figures: Issue16Figures): Verdict[] {
  const { direct, floor, gateway, streams, memory } = figures;
  const embedded = figures.stack === "embedded";
  const maxP50 = embedded ? GOALS.maxAddedP50Ms : GOALS.maxSharedAddedP50Ms;
  const addedP50 = gateway.p50Ms - direct.p50Ms;
  const addedP99 = gateway.p99Ms - direct.p99Ms;
  const share = gateway.requestsPerSecond / floor.requestsPerSecond;
  const streamAdded = streams.gateway.firstChunkP50Ms - streams.direct.firstChunkP50Ms;
  const peakMiB = memory.end.peakKiB / 1024;
  const idleMiB = memory.idle.rssKiB / 1024;
  const latency: Verdict[] = [{
    goal: `added p50 at 1 connection ≤ ${maxP50} ms on the ${figures.stack} stack (issue 16)`,
    pass: addedP50 <= maxP50,
    detail: `${signed(addedP50)} ms (gateway ${ms(gateway.p50Ms)} − direct ${ms(direct.p50Ms)})`,
  }];
  if (embedded) {
    latency.push({
      goal: `added p99 at 1 connection ≤ ${GOALS.maxAddedP99Ms} ms (issue 16)`,
      pass: addedP99 <= GOALS.maxAddedP99Ms,
      detail: `${signed(addedP99)} ms (gateway ${ms(gateway.p99Ms)} − direct ${ms(direct.p99Ms)})`,
    });
  }
  return [
    ...latency,
    {
      goal: `≥ ${GOALS.minFloorShare * 100}% of the floor proxy's rate at 64 connections, ` +
        "jobs drained (issue 16, same rounds)",
      pass: share >= GOALS.minFloorShare,
      detail: `${percent(share)} (${rps(gateway.requestsPerSecond)} / ${
        rps(floor.requestsPerSecond)
      } req/s)`,
    },
    {
      goal: `peak RSS ≤ ${GOALS.maxPeakMiB} MiB through the 64-connection runs (issue 16)`,
      pass: peakMiB <= GOALS.maxPeakMiB,
      detail: `${peakMiB.toFixed(1)} MiB (VmHWM at the end of the bench)`,
    },
    {
      goal: `idle RSS after start ≤ ${GOALS.maxIdleMiB} MiB (issue 16)`,
      pass: idleMiB <= GOALS.maxIdleMiB,
      detail: `${idleMiB.toFixed(1)} MiB (VmRSS after the smoke test, before any load)`,
    },
    {
      goal: `stream's first chunk ≤ ${GOALS.maxStreamAddedP50Ms} ms behind direct at p50 ` +
        "(issue 16)",
      pass: streamAdded <= GOALS.maxStreamAddedP50Ms,
      detail: `${signed(streamAdded)} ms (gateway ${ms(streams.gateway.firstChunkP50Ms)} − ` +
        `direct ${ms(streams.direct.firstChunkP50Ms)})`,
    },
  ];
}

/** Judges issue 3's share of the foundation's rate, when the foundation was measured. */
export function judgeFoundation(
  gateway: TargetSummary,
  foundation: TargetSummary | null,
): Verdict[] {
  if (!foundation) return [];
  const share = gateway.requestsPerSecond / foundation.requestsPerSecond;
  return [{
    goal: `money path keeps ≥ ${GOALS.minFoundationShare * 100}% of the foundation's rate ` +
      "(issue 3, same run)",
    pass: share >= GOALS.minFoundationShare,
    detail: `${percent(share)} (${rps(gateway.requestsPerSecond)} / ${
      rps(foundation.requestsPerSecond)
    } req/s)`,
  }];
}

/** The human-readable report: a table, the rounds, CPU and memory, and one verdict per goal. */
export function formatReport(results: BenchResults): string {
  const { direct, floor, gateway, routed, messages, controls, foundation, settings } = results;
  const widths = [14, 14, 16, 18, 20];
  const row = (label: string, ...cells: string[]) =>
    label.padEnd(26) + cells.map((cell, i) => cell.padStart(widths[i])).join("");
  const withFoundation = (cells: string[], cell: (f: TargetSummary) => string) =>
    foundation ? [...cells, cell(foundation)] : cells;
  const list = <S extends RateSample>(rounds: S[], pick: (s: S) => string) =>
    rounds.map(pick).join("  ");
  // `rateOnly` holds the rate-only targets' part, for the lines of 64-connection figures.
  const roundsLine = (title: string, pick: (s: RoundSample) => string, rateOnly = "") =>
    `${title}direct ${list(direct.rounds, pick)} | floor ${list(floor.rounds, pick)}` +
    ` | gateway ${list(gateway.rounds, pick)}` +
    ` | 2 weighted mocks ${list(routed.rounds, pick)}` +
    ` | messages ${list(messages.rounds, pick)}` +
    (results.responses ? ` | /v1/responses ${list(results.responses.rounds, pick)}` : "") +
    rateOnly +
    (foundation ? ` | foundation ${list(foundation.rounds, pick)}` : "");
  const drained = (s: RateSample) => `${s.jobsQueuedAfter} (${s.drainSeconds.toFixed(2)} s)`;
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const baseline = settings.baseline;
  return [
    `Gateway benchmark: ${settings.rounds} rounds × ${settings.durationSeconds} s per run, ` +
    `${settings.warmupSeconds} s warm-up per target, ${settings.cpus} CPUs; gateway on the ` +
    `${settings.stack} stack`,
    settings.pinning,
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
    `streams (sequential over one keep-alive connection, time to the first body byte): direct ` +
    `p50 ${ms(results.streams.direct.firstChunkP50Ms)} ms, p99 ` +
    `${ms(results.streams.direct.firstChunkP99Ms)} ms; gateway p50 ` +
    `${ms(results.streams.gateway.firstChunkP50Ms)} ms ` +
    `(${signed(results.streamAddedP50Ms)} ms), p99 ` +
    `${ms(results.streams.gateway.firstChunkP99Ms)} ms; ` +
    `${results.streams.gateway.requests} requests per round`,
    `messages (/v1/messages through the gateway, translated for the OpenAI-format mock): ` +
    `${rps(messages.requestsPerSecond)} req/s @64 conn, ${percent(results.messagesShare)} of ` +
    `chat's; p50 @1 conn ${ms(messages.p50Ms)} ms ` +
    `(${signed(messages.p50Ms - gateway.p50Ms)} ms on chat's), ` +
    `${messages.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request`,
    `tenant controls (chat through the gateway with model allowlists and period budgets on the ` +
    `tenant and the key, besides chat's rate limits; 64 conn only): ` +
    `${rps(controls.requestsPerSecond)} req/s @64 conn, ${percent(results.controlsShare)} of ` +
    `chat's; ${controls.gatewayCpuUsPerRequest.toFixed(0)} µs CPU/request ` +
    `(chat's ${gateway.gatewayCpuUsPerRequest.toFixed(0)} µs)`,
    "",
    roundsLine(
      "rounds, req/s @64:   ",
      (s) => rps(s.requestsPerSecond),
      ` | tenant controls ${list(controls.rounds, (s) => rps(s.requestsPerSecond))}`,
    ),
    roundsLine("rounds, p50 @1 (ms): ", (s) => ms(s.p50Ms)),
    `jobs queued when a 64-conn run ended, then the seconds to finish them: gateway ${
      list(gateway.rounds, drained)
    }; 2 weighted mocks ${list(routed.rounds, drained)}; tenant controls ${
      list(controls.rounds, drained)
    }. Rates count that time; wrk's own: gateway ${
      list(gateway.rounds, (s) => rps(s.wrkRequestsPerSecond))
    }; tenant controls ${list(controls.rounds, (s) => rps(s.wrkRequestsPerSecond))}`,
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
    `gateway memory: idle after start ${mib(results.gatewayIdleMemory.rssKiB)}, ` +
    `peak (VmHWM) ${mib(results.gatewayMemory.peakKiB)}, ` +
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
