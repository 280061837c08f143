import { ENVIRONMENT } from "../config/mod.ts";

/** What {@linkcode healthcheck} reads and where it writes; the program passes the real ones. */
export interface HealthcheckOptions {
  /** The arguments after `healthcheck`: none for readiness, `--live` for liveness. */
  args: string[];
  /** The environment, for `PORT` and `HOST`. */
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
  /** Where the line of a healthy answer goes; standard output by default. */
  print?: (line: string) => void;
  /** Where the line of any failure goes; standard error by default. */
  printError?: (line: string) => void;
  /** How long the probe may take in all; 3 s by default. */
  timeoutMs?: number;
}

const USAGE = "usage: gateway healthcheck [--live]";

// Above the 2 s the gateway gives each readiness check, so a slow dependency is reported by
// `/ready` as failing rather than lost in a timeout here.
const DEFAULT_TIMEOUT_MS = 3000;

// What an answer line shows of the body: the readiness checks fit, a stray HTML page does not.
const MAX_BODY_CHARS = 300;

/**
 * Asks the gateway listening on `PORT` on this machine whether it is ready (`/ready`) or alive
 * (`/health` with `--live`), prints one line and returns the exit code: 0 healthy, 1 otherwise.
 * For container images without curl; it starts nothing and opens no database.
 */
export async function healthcheck(options: HealthcheckOptions): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  const printError = options.printError ?? ((line: string) => console.error(line));
  const unknown = options.args.filter((arg) => arg !== "--live");
  if (unknown.length > 0) {
    printError(`healthcheck: unknown argument '${unknown[0]}'; ${USAGE}`);
    return 1;
  }
  const path = options.args.includes("--live") ? "/health" : "/ready";
  const target = probeOrigin(options.env);
  if ("problem" in target) {
    printError(`unhealthy: ${target.problem}`);
    return 1;
  }
  const url = `${target.origin}${path}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await (options.fetch ?? fetch)(url, { signal, redirect: "manual" });
    const body = oneLine(await response.text()).slice(0, MAX_BODY_CHARS);
    const line = `GET ${url} answered ${response.status} ${body}`.trimEnd();
    if (response.status === 200) {
      print(`healthy: ${line}`);
      return 0;
    }
    printError(`unhealthy: ${line}`);
  } catch (error) {
    const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : failureReason(error);
    printError(`unhealthy: GET ${url} failed: ${reason}`);
  }
  return 1;
}

/** Where the local gateway answers: its `HOST`, or loopback when it binds every address. */
function probeOrigin(
  env: Record<string, string | undefined>,
): { origin: string } | { problem: string } {
  const port = ENVIRONMENT.PORT.schema.safeParse(env.PORT || ENVIRONMENT.PORT.default);
  if (!port.success) {
    return { problem: `PORT ${port.error.issues[0].message} (got ${JSON.stringify(env.PORT)})` };
  }
  if (port.data === 0) {
    return { problem: "PORT is 0, a port chosen at start: set PORT to the gateway's port" };
  }
  const host = (env.HOST || ENVIRONMENT.HOST.default).trim();
  return { origin: `http://${loopbackFor(host)}:${port.data}` };
}

function loopbackFor(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (bare === "0.0.0.0") return "127.0.0.1";
  if (bare === "::") return "[::1]";
  return bare.includes(":") ? `[${bare}]` : bare;
}

/** The innermost cause: Deno's fetch says only "fetch failed", its cause says why. */
function failureReason(error: unknown): string {
  let innermost = error;
  for (let depth = 0; depth < 5 && innermost instanceof Error && innermost.cause; depth++) {
    innermost = innermost.cause;
  }
  const message = innermost instanceof Error ? innermost.message : String(innermost);
  // The URL is on the line already.
  return oneLine(message.replace(/^error sending request for url \([^)]*\): /, ""));
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
