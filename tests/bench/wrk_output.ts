/**
 * @module
 * Reads the human-readable report `wrk` prints (with `--latency`) into numbers.
 */

/** Latency percentiles of one wrk run, in milliseconds. */
export interface LatencyPercentiles {
  p50: number;
  p75: number;
  p90: number;
  p99: number;
}

/** What one wrk run measured. */
export interface WrkResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  /** Present when wrk ran with `--latency`. */
  latencyMs: LatencyPercentiles | undefined;
  /** Responses whose status was not 2xx or 3xx. */
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

const MS_PER_UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Converts a wrk time such as `85.00us`, `1.23ms` or `2.00s` to milliseconds. */
export function wrkTimeToMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) {
    throw new Error(`Cannot read a wrk time as it has no known unit: current value is '${text}'`);
  }
  return Number(match[1]) * MS_PER_UNIT[match[2]];
}

/** Parses wrk's report; throws when the report lacks its summary lines. */
export function parseWrkOutput(output: string): WrkResult {
  const rate = /^Requests\/sec:\s+([\d.]+)\s*$/m.exec(output);
  const total = /^\s*(\d+) requests in ([\d.]+(?:us|ms|s|m|h)),/m.exec(output);
  if (!rate || !total) {
    throw new Error(`Cannot parse wrk's output as it has no 'Requests/sec' summary:\n${output}`);
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  return {
    requests: Number(total[1]),
    durationSeconds: wrkTimeToMs(total[2]) / 1000,
    requestsPerSecond: Number(rate[1]),
    latencyMs: parsePercentiles(output),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
    },
  };
}

function parsePercentiles(output: string): LatencyPercentiles | undefined {
  const section = output.split(/^\s*Latency Distribution\s*$/m)[1];
  if (section === undefined) return undefined;
  const found = new Map<number, number>();
  for (const match of section.matchAll(/^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s*$/gm)) {
    found.set(Number(match[1]), wrkTimeToMs(match[2]));
  }
  const at = (percent: number) => {
    const value = found.get(percent);
    if (value === undefined) throw new Error(`Cannot find the ${percent}% latency in wrk's output`);
    return value;
  };
  return { p50: at(50), p75: at(75), p90: at(90), p99: at(99) };
}
