/**
 * @module
 * The benchmark's subprocesses: the mock upstream, the gateway and wrk, each started with a
 * deadline and stopped by its own pid, on the CPUs given (`taskset -c` syntax), or anywhere with
 * null.
 */
import { delay, freePort } from "../gateway_process.ts";
import { pinnedCommand } from "./pinning.ts";
import { readProcFile } from "./procfs.ts";
import type { StreamSample } from "./report.ts";
import type { StreamRequest } from "./stream_client.ts";
import { parseWrkOutput, type WrkResult } from "./wrk_output.ts";

/** A server the benchmark started. */
export interface Server {
  url: string;
  /** The pid of the deno process itself, for `/proc`. */
  pid: number;
  /** The last lines of what it wrote, for error messages. */
  logTail(): Promise<string>;
  /** Stops it (SIGTERM, then SIGKILL after `graceMs`); safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

/** This checkout's root, with a trailing slash. */
export const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;

/** Starts `mock_upstream.ts` in its own deno process; its base URL has no `/v1`. */
export function startMockUpstream(
  logDir: string,
  cpus: string | null,
  name = "mock",
): Promise<Server> {
  return startBenchScript("mock_upstream.ts", [], {
    logDir,
    cpus,
    name,
    what: "the mock upstream",
  });
}

/** Starts `floor_proxy.ts` in front of `upstream` (a server's base URL) in its own deno process. */
export function startFloorProxy(
  logDir: string,
  cpus: string | null,
  upstream: Server,
): Promise<Server> {
  return startBenchScript("floor_proxy.ts", [upstream.url], {
    logDir,
    cpus,
    name: "floor",
    what: "the floor proxy",
  });
}

// A script of tests/bench that serves on the port given as its first argument, with network
// access to this machine only, until /health answers.
async function startBenchScript(
  script: string,
  args: string[],
  { logDir, cpus, name, what }: { logDir: string; cpus: string | null; name: string; what: string },
): Promise<Server> {
  const port = freePort();
  const server = spawnServer({
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--config",
      CONFIG,
      `${ROOT}tests/bench/${script}`,
      String(port),
      ...args,
    ],
    env: {},
    cpus,
    logPath: `${logDir}/${name}.log`,
    url: `http://127.0.0.1:${port}`,
  });
  await waitHealthy(server, what, 20_000);
  return server;
}

/** Where and how {@linkcode startGateway} runs a gateway. */
export interface GatewayStart {
  /** The folder of its log, `<name>.log`. */
  logDir: string;
  /** The CPUs it runs on (`taskset -c` syntax), or null for anywhere. */
  cpus: string | null;
  /** "gateway" by default. */
  name?: string;
  /** The tree whose `main.ts` runs, a path with a trailing slash; this checkout by default. */
  root?: string;
  /** Deno's own flags besides the permissions, such as `--cpu-prof`; none by default. */
  denoFlags?: string[];
}

/**
 * Starts `main.ts` with the `gateway` permission set, like `deno task start`: this checkout's, or
 * that of another tree with its own `deno.json`.
 */
export async function startGateway(
  env: Record<string, string>,
  { logDir, cpus, name = "gateway", root = ROOT, denoFlags = [] }: GatewayStart,
): Promise<Server> {
  const port = freePort();
  const server = spawnServer({
    args: ["run", "-P=gateway", ...denoFlags, "--config", `${root}deno.json`, `${root}main.ts`],
    env: { ...env, PORT: String(port), HOST: "127.0.0.1" },
    cpus,
    logPath: `${logDir}/${name}.log`,
    url: `http://127.0.0.1:${port}`,
  });
  await waitHealthy(server, "the gateway", 30_000);
  await assertIsDeno(server.pid).catch(async (error) => {
    await server.stop();
    throw error;
  });
  return server;
}

interface SpawnOptions {
  args: string[];
  env: Record<string, string>;
  cpus: string | null;
  logPath: string;
  url: string;
}

function spawnServer(options: SpawnOptions): Server & { exited(): boolean } {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    ...options.env,
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  // `exec` replaces the shell (and taskset execs deno in turn), so the child's pid is deno's and
  // its output goes straight to a file: no pipe for the benchmark to drain, and no copying on the
  // benchmark's CPU.
  const [program, args] = pinnedCommand(options.cpus, Deno.execPath(), options.args);
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'log=$1; shift; exec "$@" >"$log" 2>&1',
      "sh",
      options.logPath,
      program,
      ...args,
    ],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  let stopping: Promise<void> | undefined;
  return {
    url: options.url,
    pid: child.pid,
    exited: () => exited,
    logTail: async () => {
      const text = await Deno.readTextFile(options.logPath).catch(() => "");
      return text.trimEnd().split("\n").slice(-10).join("\n");
    },
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        if (exited) return;
        signal(child, "SIGTERM");
        const timer = setTimeout(() => signal(child, "SIGKILL"), graceMs);
        await status;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // Already exited.
  }
}

async function waitHealthy(
  server: Server & { exited(): boolean },
  name: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !server.exited()) {
    try {
      const response = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await delay(50);
  }
  const why = server.exited() ? "exited" : `did not answer /health within ${timeoutMs} ms`;
  await server.stop(1000);
  throw new Error(`Cannot benchmark as ${name} ${why}; its output:\n${await server.logTail()}`);
}

async function assertIsDeno(pid: number): Promise<void> {
  // Once the shell has exec'd, the process is named deno and its parent is this benchmark.
  const status = await readProcFile(`/proc/${pid}/status`);
  const name = /^Name:\s+(\S+)$/m.exec(status)?.[1];
  const parent = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]);
  if (name !== "deno" || parent !== Deno.pid) {
    throw new Error(`Cannot measure the gateway as pid ${pid} is '${name}' (parent ${parent})`);
  }
}

/** A wrk run: target URL, lua script, connections, threads, seconds. */
export interface WrkRun {
  url: string;
  script: string;
  connections: number;
  threads: number;
  seconds: number;
  /** The CPUs wrk runs on, or null for anywhere. */
  cpus: string | null;
}

/** Runs wrk with `--latency`, killing it if it overruns; throws if it fails or is missing. */
export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.seconds}s`,
    "--timeout",
    "5s",
    "--latency",
    "-s",
    run.script,
    run.url,
  ];
  let output: Deno.CommandOutput;
  const [program, pinnedArgs] = pinnedCommand(run.cpus, "wrk", args);
  try {
    output = await new Deno.Command(program, {
      args: pinnedArgs,
      stdin: "null",
      signal: AbortSignal.timeout((run.seconds + 15) * 1000),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new WrkMissingError();
    throw error;
  }
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    throw new Error(
      `Cannot benchmark as 'wrk ${args.join(" ")}' failed (${
        output.signal ?? output.code
      }):\n${stdout}${stderr}`,
    );
  }
  return parseWrkOutput(stdout);
}

/** A stream client run: target URL, the streamed request, how many to time, the CPUs. */
export interface StreamRun {
  url: string;
  request: StreamRequest;
  count: number;
  cpus: string | null;
}

/**
 * Runs `stream_client.ts` in its own deno process, which times `count` streamed requests after
 * as many to warm up, killing it if it takes over 10 ms a request plus half a minute.
 */
export async function runStreamClient(run: StreamRun): Promise<StreamSample> {
  const [program, args] = pinnedCommand(run.cpus, Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    "--config",
    CONFIG,
    `${ROOT}tests/bench/stream_client.ts`,
    run.url,
    String(run.count),
    JSON.stringify(run.request),
  ]);
  const output = await new Deno.Command(program, {
    args,
    stdin: "null",
    signal: AbortSignal.timeout(run.count * 2 * 10 + 30_000),
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `Cannot measure streams as the stream client failed (${output.signal ?? output.code}): ` +
        decoder.decode(output.stderr).trim(),
    );
  }
  return JSON.parse(decoder.decode(output.stdout)) as StreamSample;
}

/** Raised when the `wrk` program is not installed. */
export class WrkMissingError extends Error {
  constructor() {
    super(
      "Cannot benchmark as 'wrk' is not installed or not on PATH: install it with " +
        "'apt-get install wrk' (Debian/Ubuntu) or 'brew install wrk' (macOS)",
    );
    this.name = "WrkMissingError";
  }
}

/** Fails early with install instructions when `wrk` is missing. */
export async function requireWrk(): Promise<void> {
  try {
    // `wrk -v` prints its version and exits with 1; only a missing program matters here.
    await new Deno.Command("wrk", { args: ["-v"], stdout: "null", stderr: "null" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new WrkMissingError();
    throw error;
  }
}
