/**
 * @module
 * Where the benchmark's processes run: every gateway-like target on one core, and the mock
 * upstreams and the load generators on the others, so that a target's figures are per core and
 * its core is not shared with the load it serves.
 */

/** The CPU lists (`taskset -c` syntax) of the targets and of the load; null when not pinned. */
export interface Pinning {
  /** The core of the gateway, the routed gateway, the foundation and the floor proxy. */
  targetCpus: string | null;
  /** The cores of the mock upstreams, wrk and the stream client. */
  loadCpus: string | null;
  /** What was pinned where, or why nothing was, for the report. */
  description: string;
}

/**
 * Puts the targets on CPU 0 and the load on the others when the machine has at least two CPUs
 * and `taskset`; otherwise pins nothing and says why.
 */
export function planPinning(cpus: number, hasTaskset: boolean): Pinning {
  if (!hasTaskset) {
    return unpinned("not pinned: taskset is not installed (it comes with util-linux)");
  }
  if (cpus < 2) return unpinned(`not pinned: ${cpus} CPU, so targets and load share it`);
  const loadCpus = cpus === 2 ? "1" : `1-${cpus - 1}`;
  return {
    targetCpus: "0",
    loadCpus,
    description: `pinned with taskset: targets (gateways, floor proxy) on CPU 0, ` +
      `mock upstreams, wrk and the stream client on CPU ${loadCpus}`,
  };
}

function unpinned(description: string): Pinning {
  return { targetCpus: null, loadCpus: null, description };
}

/** The program and arguments that run `program args` on `cpus`, or as they are when null. */
export function pinnedCommand(
  cpus: string | null,
  program: string,
  args: string[],
): [string, string[]] {
  return cpus === null ? [program, args] : ["taskset", ["-c", cpus, program, ...args]];
}

/** Whether `taskset` can run here, found by running it. */
export async function hasTaskset(): Promise<boolean> {
  try {
    const output = await new Deno.Command("taskset", {
      args: ["-c", "0", "true"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}
