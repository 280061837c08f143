/**
 * @module
 * Starts the real gateway program as a subprocess for end-to-end tests, with its real
 * environment, and collects what it logs.
 */

/** A running gateway process. */
export interface GatewayProcess {
  url: string;
  port: number;
  dataDir: string;
  /** Log lines written to standard output so far. */
  stdout(): string[];
  /** Text written to standard error so far. */
  stderr(): string;
  /** JSON log records so far (non-JSON lines skipped). */
  records(): Array<Record<string, unknown>>;
  /** Sends a signal; resolves with the exit code once the process has ended. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Waits until a JSON log record matches. */
  waitForRecord(
    match: (record: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startGateway}. */
export interface StartOptions {
  env?: Record<string, string>;
  /** Reuse a data folder (for restarts); a fresh temporary one by default. */
  dataDir?: string;
  /** Wait for `/health` (default) or return at once. */
  waitReady?: boolean;
  /** Deno's arguments, e.g. to run a release artifact; `main.ts` with `-P=gateway` by default. */
  args?: string[];
  /** The working directory of the process; this one by default. */
  cwd?: string;
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** A free TCP port on the loopback interface. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts `main.ts` with the project's permission set and waits until it answers `/health`. */
export async function startGateway(options: StartOptions = {}): Promise<GatewayProcess> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "gateway-test-" });
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
    // Port 0 lets the kernel choose, so parallel tests never race for a port; the gateway's
    // banner on stderr tells which one it got.
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    LOG_JSON_FORMAT: "true",
    ...options.env,
  };
  if (!env.DENO_DIR) delete env.DENO_DIR;
  const child = new Deno.Command(Deno.execPath(), {
    args: options.args ?? ["run", "-P=gateway", "--config", CONFIG, MAIN],
    cwd: options.cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const lines: string[] = [];
  let errText = "";
  const pumps = [
    pump(child.stdout, (text) => lines.push(...text.split("\n").filter((l) => l.length > 0)), true),
    pump(child.stderr, (text) => errText += text, false),
  ];
  const status = child.status;
  const listeningOn = () => /Gateway listening on (http:\/\/[^\s]+:(\d+))/.exec(errText);
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    const { code } = await status;
    await Promise.all(pumps);
    return code;
  };
  const records = () =>
    lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const processHandle: GatewayProcess = {
    get url() {
      return listeningOn()?.[1] ?? "";
    },
    get port() {
      return Number(listeningOn()?.[2] ?? 0);
    },
    dataDir,
    stdout: () => lines,
    stderr: () => errText,
    records,
    stop,
    async waitForRecord(match, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = records().find(match);
        if (found) return found;
        await delay(25);
      }
      throw new Error(
        `No matching log record within ${timeoutMs} ms; stdout:\n${lines.join("\n")}`,
      );
    },
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL");
      if (!options.dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
  if (options.waitReady === false) return processHandle;
  const deadline = Date.now() + 30_000;
  let exited = false;
  status.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    if (!listeningOn()) {
      await delay(25);
      continue;
    }
    try {
      const response = await fetch(`${processHandle.url}/health`);
      await response.body?.cancel();
      if (response.ok) return processHandle;
    } catch {
      // Not listening yet.
    }
    await delay(50);
  }
  await stop("SIGKILL");
  throw new Error(`The gateway did not start.\nstdout:\n${lines.join("\n")}\nstderr:\n${errText}`);
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  sink: (text: string) => void,
  byLine: boolean,
): Promise<void> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    if (!byLine) {
      sink(text);
      continue;
    }
    pending += text;
    const end = pending.lastIndexOf("\n");
    if (end >= 0) {
      sink(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  }
  if (pending) sink(pending);
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Creates a tenant and a key through the internal API; returns the key's secret. */
export async function createTenantWithKey(
  gateway: { url: string },
  adminToken: string,
  input: { name?: string; balance_usd?: number } = {},
): Promise<{ tenantId: string; keyId: string; key: string }> {
  const headers = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
  const tenant = await (await fetch(`${gateway.url}/internal/tenants`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: input.name ?? "acme", balance_usd: input.balance_usd ?? 10 }),
  })).json();
  const key = await (await fetch(`${gateway.url}/internal/tenants/${tenant.id}/keys`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "test" }),
  })).json();
  return { tenantId: tenant.id, keyId: key.id, key: key.key };
}

/** Polls `probe` until it gives a value, or throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  options: { what: string; timeoutMs?: number },
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Not ${options.what} within ${timeoutMs} ms`);
    await delay(50);
  }
}
