/**
 * @module
 * Reads a process's memory and CPU time from Linux's `/proc/<pid>/status` and `/proc/<pid>/stat`.
 */

/** A process's resident memory, in KiB. */
export interface ProcessMemory {
  /** Peak resident set size (`VmHWM`). */
  peakKiB: number;
  /** Current resident set size (`VmRSS`). */
  rssKiB: number;
}

/** Parses `/proc/<pid>/status` for `VmHWM` and `VmRSS`. */
export function parseMemory(status: string): ProcessMemory {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!match) throw new Error(`Cannot read memory as /proc status has no '${name}' line`);
    return Number(match[1]);
  };
  return { peakKiB: field("VmHWM"), rssKiB: field("VmRSS") };
}

/** Parses `/proc/<pid>/stat` for the CPU time used so far (utime + stime), in clock ticks. */
export function parseCpuTicks(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).trim().split(/\s+/);
  // After the name, fields start at 3 (state); utime is field 14 and stime field 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new Error(`Cannot read CPU time as /proc stat is malformed: current value is '${stat}'`);
  }
  return utime + stime;
}

/** Parses the first line of `/proc/stat` into busy and total CPU ticks of the whole machine. */
export function parseMachineTicks(stat: string): { busy: number; total: number } {
  const fields = /^cpu\s+([\d\s]+)$/m.exec(stat)?.[1].trim().split(/\s+/).map(Number);
  if (!fields || fields.length < 5) {
    throw new Error("Cannot read CPU time as /proc/stat has no 'cpu' line");
  }
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
  // counted in user, so it is left out of the total.
  const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { busy: total - fields[3] - fields[4], total };
}

/** Reads the memory of a live process. */
export async function readMemory(pid: number): Promise<ProcessMemory> {
  return parseMemory(await readProcFile(`/proc/${pid}/status`));
}

/** Reads the CPU ticks a live process has used, or one of its threads with `thread`. */
export async function readCpuTicks(pid: number, thread?: number): Promise<number> {
  const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
  return parseCpuTicks(await readProcFile(path));
}

/** Reads the machine's CPU ticks so far. */
export async function readMachineTicks(): Promise<{ busy: number; total: number }> {
  return parseMachineTicks(await readProcFile("/proc/stat"));
}

/** Reads a file under `/proc`, e.g. `/proc/42/status`. */
export async function readProcFile(path: string): Promise<string> {
  // Deno lets only a fully trusted program read another process's /proc files; `cat` needs no
  // more than the --allow-run the benchmark has anyway.
  const output = await new Deno.Command("cat", {
    args: [path],
    stdin: "null",
    signal: AbortSignal.timeout(5000),
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `Cannot read ${path}: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
  return text;
}
