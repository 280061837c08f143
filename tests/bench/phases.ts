/**
 * @module
 * Where a request's CPU goes, by pipeline phase, from a V8 CPU profile (`deno run --cpu-prof`) of
 * the gateway serving a fixed load. Each sample is charged to the innermost frame of the stack
 * whose script is one of the gateway's `src/` files, and so to that file's phase; a library's
 * frames (hono, zod, prom-client, logtape) are thereby charged to the `src/` file that called
 * them. A sample with no `src/` frame on its stack is the runtime's (`Deno.serve`'s internals,
 * the garbage collector, the event loop); `(idle)` samples are left out of the busy time.
 *
 * As a program: `deno run -A tests/bench/phases.ts <file.cpuprofile> --requests=N [--from=ms]
 * [--to=ms] [--json]` prints the table, sorted by µs per request.
 */
import { parseArgs } from "node:util";

/** The phases of the README's per-request breakdown, in the order a request meets them. */
export const PHASES = [
  "HTTP in and out",
  "auth",
  "routing",
  "limits",
  "reservation and metering",
  "upstream call",
  "answer",
  "logging",
  "metrics and tracing",
  "idempotency",
  "queue",
  "store writes",
  "other gateway code",
  "runtime (Deno.serve, GC, event loop)",
] as const;

/** One phase of the per-request breakdown. */
export type Phase = typeof PHASES[number];

/** The phase of samples with no `src/` frame on their stack. */
export const RUNTIME: Phase = "runtime (Deno.serve, GC, event loop)";

/** One function of a V8 CPU profile's call tree. */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** A V8 `.cpuprofile`: its call tree, and which node each sample hit, µs after the one before. */
export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds, on the same clock as `endTime`. */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

// The first match wins; a path is the part of the URL after its last `/src/`.
const RULES: [RegExp, Phase][] = [
  [/^http\/middleware\/authenticate\.ts$/, "auth"],
  [/^http\/middleware\/idempotency\.ts$/, "idempotency"],
  [/^http\/middleware\/observe\.ts$/, "metrics and tracing"],
  [/^http\//, "HTTP in and out"],
  [/^(auth)\//, "auth"],
  [/^(routing\/|providers\/(registry|operations)\.ts$)/, "routing"],
  [/^(limits\/|pipeline\/admission\.ts$)/, "limits"],
  [
    /^billing\/(quota|memory_funds|redis_funds|funds|metering|pricing|mod)\.ts$/,
    "reservation and metering",
  ],
  [/^providers\//, "upstream call"],
  // The Anthropic and Responses routes' translations to and from chat shape the answer as the
  // pipeline does; what of `responses/` stores and expires answers is a store write.
  [/^responses\/(service|retention)\.ts$/, "store writes"],
  [/^(pipeline|core|messages|responses)\//, "answer"],
  [/^observability\/(logging|_log_[a-z_]+)\.ts$/, "logging"],
  [/^observability\//, "metrics and tracing"],
  [/^idempotency\//, "idempotency"],
  [/^queue\//, "queue"],
  [/^(store\/|audit\/|billing\/billing\.ts$)/, "store writes"],
];

/**
 * The path under `src/` of a gateway source file's URL (`file:///…/src/http/app.ts` gives
 * `http/app.ts`), from any checkout folder; null for anything else, such as a package in Deno's
 * npm cache or the runtime's own `ext:` scripts.
 */
export function srcPathOf(url: string): string | null {
  if (!url.startsWith("file://") || /\/(node_modules|registry\.npmjs\.org)\//.test(url)) {
    return null;
  }
  const at = url.lastIndexOf("/src/");
  if (at < 0 || !/\.[cm]?[jt]sx?$/.test(url)) return null;
  return url.slice(at + "/src/".length);
}

/** The phase of a gateway source file's URL; the runtime's for a URL of no `src/` file. */
export function phaseOf(url: string): Phase {
  const path = srcPathOf(url);
  if (path === null) return RUNTIME;
  return RULES.find(([pattern]) => pattern.test(path))?.[1] ?? "other gateway code";
}

/** What a window of a profile spent in one phase. */
export interface PhaseShare {
  phase: Phase;
  samples: number;
  /** Of the busy time (all but idle), from 0 to 1. */
  share: number;
  /** The phase's time in the window over the requests served in it. */
  usPerRequest: number;
}

/** Where the busy time of a window of a profile went, per request. */
export interface Breakdown {
  /** Every phase with a sample in the window, the most µs per request first. */
  phases: PhaseShare[];
  requests: number;
  /** The window's length, start-up and shutdown left out as asked. */
  windowMs: number;
  /** Samples in the window, idle ones too. */
  samples: number;
  /** Busy time in the window over its requests. */
  busyUsPerRequest: number;
  /** The idle time's share of the window's sampled time, from 0 to 1. */
  idleShare: number;
}

/** Options of {@linkcode breakdown}. */
export interface BreakdownOptions {
  /** Milliseconds from the profile's start; samples before are left out. 0 by default. */
  fromMs?: number;
  /** Milliseconds from the profile's start; samples from then on are left out. Its end by default. */
  toMs?: number;
  /** Requests the gateway served in the window. */
  requests: number;
}

/**
 * Charges each sample of the window to its phase. A sample counts for the time until the next
 * sample (the next time delta; the profile's end for the last), as that is the time the sampled
 * stack ran for as far as the profiler knows.
 */
export function breakdown(profile: CpuProfile, options: BreakdownOptions): Breakdown {
  const { requests, fromMs = 0, toMs = Infinity } = options;
  if (!(requests > 0)) {
    throw new RangeError(
      `Cannot break a profile down per request as 'requests' must be positive: current value is ${requests}`,
    );
  }
  const phaseOfNode = nodePhases(profile.nodes);
  const times = new Map<Phase, { samples: number; us: number }>();
  let samples = 0, idleUs = 0, busyUs = 0;
  let at = profile.startTime;
  profile.samples.forEach((node, i) => {
    at += profile.timeDeltas[i];
    const next = i + 1 < profile.samples.length ? at + profile.timeDeltas[i + 1] : profile.endTime;
    const ms = (at - profile.startTime) / 1000;
    if (ms < fromMs || ms >= toMs) return;
    samples++;
    const us = Math.max(0, next - at);
    if (!phaseOfNode.has(node)) {
      throw new Error(`Cannot read the profile as a sample names node ${node}, which it lacks`);
    }
    const phase = phaseOfNode.get(node);
    if (phase === undefined) {
      idleUs += us;
      return;
    }
    busyUs += us;
    const time = times.get(phase) ?? { samples: 0, us: 0 };
    time.samples++;
    time.us += us;
    times.set(phase, time);
  });
  const phases = [...times].map(([phase, time]) => ({
    phase,
    samples: time.samples,
    share: busyUs > 0 ? time.us / busyUs : 0,
    usPerRequest: time.us / requests,
  })).sort((a, b) => b.usPerRequest - a.usPerRequest);
  const endMs = (profile.endTime - profile.startTime) / 1000;
  return {
    phases,
    requests,
    windowMs: Math.max(0, Math.min(toMs, endMs) - Math.max(fromMs, 0)),
    samples,
    busyUsPerRequest: busyUs / requests,
    idleShare: idleUs + busyUs > 0 ? idleUs / (idleUs + busyUs) : 0,
  };
}

// Each node's phase (none for `(idle)`), from the innermost `src/` frame on its path from the
// root, found once per node rather than once per sample.
function nodePhases(nodes: ProfileNode[]): Map<number, Phase | undefined> {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const phases = new Map<number, Phase | undefined>();
  const phaseOfId = (id: number): Phase => {
    const known = phases.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    if (node === undefined) {
      throw new Error(`Cannot read the profile as a sample names node ${id}, which it lacks`);
    }
    const parent = parentOf.get(id);
    const phase = srcPathOf(node.callFrame.url) !== null
      ? phaseOf(node.callFrame.url)
      : parent === undefined
      ? RUNTIME
      : phaseOfId(parent);
    phases.set(id, phase);
    return phase;
  };
  for (const node of nodes) {
    if (node.callFrame.functionName === "(idle)") phases.set(node.id, undefined);
    else phaseOfId(node.id);
  }
  return phases;
}

/** The breakdown as a table, with its window, requests, busy µs per request and idle share. */
export function formatBreakdown(result: Breakdown, title = "CPU per request by phase"): string {
  const lines = [
    `${title}: ${result.requests} requests in ${(result.windowMs / 1000).toFixed(2)} s, ` +
    `${result.samples} samples; busy ${result.busyUsPerRequest.toFixed(1)} µs per request, ` +
    `idle ${(result.idleShare * 100).toFixed(1)}% of the window`,
    `${"phase".padEnd(38)}${"µs/request".padStart(11)}${"of busy".padStart(9)}${
      "samples".padStart(9)
    }`,
  ];
  for (const { phase, samples, share, usPerRequest } of result.phases) {
    lines.push(
      `${phase.padEnd(38)}${usPerRequest.toFixed(1).padStart(11)}${
        `${(share * 100).toFixed(1)}%`.padStart(9)
      }${String(samples).padStart(9)}`,
    );
  }
  return lines.join("\n");
}

/**
 * The wall-clock time (ms since the epoch) a profile started, and the process and thread, from
 * the name Deno gives it in `--cpu-prof-dir` (`CPU.<ms>.<pid>.cpuprofile`, with `.worker-<n>`
 * before the extension for a worker's); null for another name.
 */
export function parseProfileName(
  name: string,
): { startedAtMs: number; pid: number; worker: string | null } | null {
  const match = /^CPU\.(\d+)\.(\d+)(?:\.(worker-\d+))?\.cpuprofile$/.exec(name);
  if (!match) return null;
  return { startedAtMs: Number(match[1]), pid: Number(match[2]), worker: match[3] ?? null };
}

/** A profile of `--cpu-prof-dir`, with what its name tells. */
export interface ProfileFile {
  name: string;
  /** The wall-clock time its profiler started, ms since the epoch. */
  startedAtMs: number;
  /** Null for the main thread's. */
  worker: string | null;
  profile: CpuProfile;
}

/** The profiles in `folder` of the process `pid`, the main thread's first. */
export async function readProfiles(folder: string, pid: number): Promise<ProfileFile[]> {
  const found: ProfileFile[] = [];
  for await (const entry of Deno.readDir(folder)) {
    const named = parseProfileName(entry.name);
    if (!entry.isFile || named?.pid !== pid) continue;
    const profile = JSON.parse(await Deno.readTextFile(`${folder}/${entry.name}`)) as CpuProfile;
    found.push({ name: entry.name, startedAtMs: named.startedAtMs, worker: named.worker, profile });
  }
  return found.sort((a, b) => (a.worker ?? "").localeCompare(b.worker ?? ""));
}

const CLI_USAGE =
  "Usage: deno run -A tests/bench/phases.ts <file.cpuprofile> --requests=N [--from=ms] [--to=ms] [--json]";

async function cli(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      requests: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const number = (name: string, raw: string | undefined) => {
    const value = Number(raw);
    if (raw === undefined || raw.trim() === "" || !(value >= 0)) {
      throw new RangeError(
        `Cannot break the profile down as '${name}' must be a number from 0: current value is '${raw}'`,
      );
    }
    return value;
  };
  if (positionals.length !== 1) throw new RangeError("Cannot break down other than one profile");
  const profile = JSON.parse(await Deno.readTextFile(positionals[0])) as CpuProfile;
  const result = breakdown(profile, {
    requests: number("requests", values.requests),
    fromMs: values.from === undefined ? undefined : number("from", values.from),
    toMs: values.to === undefined ? undefined : number("to", values.to),
  });
  console.log(values.json ? JSON.stringify(result, null, 2) : formatBreakdown(result));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await cli(Deno.args));
  } catch (error) {
    console.error(`phases: ${(error as Error).message}\n${CLI_USAGE}`);
    Deno.exit(2);
  }
}
