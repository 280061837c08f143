/**
 * End-to-end tests of operating the gateway: health and readiness, metrics, logs, configuration
 * errors, graceful shutdown, the admin API and the embedded first run. Every test starts the real
 * program as a subprocess.
 */
import { join } from "node:path";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
} from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import {
  createTenantWithKey,
  delay,
  freePort,
  type GatewayProcess,
  startGateway,
} from "./gateway_process.ts";
import { SqliteStore } from "../src/store/mod.ts";

const ADMIN_TOKEN = `e2e-admin-${crypto.randomUUID()}`;
const MODEL = "gpt-4o-mini";
const CHAT = { model: MODEL, messages: [{ role: "user", content: "Hello" }] };
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------------------------

/** A response read to its end. */
interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

interface CallOptions {
  method?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as JSON, or as is when a string. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** Sends one request to the gateway and reads the whole answer. */
async function call(gw: { url: string }, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  let response: Response;
  try {
    response = await fetch(`${gw.url}${path}`, {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
    });
  } catch (error) {
    // Most often the gateway died: show what it said last.
    const said = "stderr" in gw ? `\nstdout:\n${outputTail(gw as GatewayProcess)}` : "";
    throw new Error(`${path}: ${error}${said}`, { cause: error });
  }
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: <T>() => JSON.parse(text) as T,
  };
}

/** A chat completion with `key`. */
function chat(gw: { url: string }, key: string, extra: CallOptions = {}): Promise<Answer> {
  return call(gw, "/v1/chat/completions", { token: key, body: CHAT, ...extra });
}

/** Asserts an OpenAI error body with the given status. */
function assertOpenAIError(answer: Answer, status: number, context: string): void {
  assertEquals(answer.status, status, `${context}: status (body ${answer.text})`);
  const body = answer.json<{ error?: { message?: unknown; type?: unknown } }>();
  assert(body.error, `${context}: an OpenAI error body, got ${answer.text}`);
  assertEquals(typeof body.error.message, "string", `${context}: error.message`);
  assertEquals(typeof body.error.type, "string", `${context}: error.type`);
}

/** One sample of the Prometheus text exposition format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format into samples; comment lines are skipped. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    assert(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, c: string) => c === "n" ? "\n" : c);
    }
    samples.push({ name: match[1], labels, value: sampleValue(match[3]) });
  }
  return samples;
}

function sampleValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

/** The samples named `name` whose labels include every one of `labels`. */
function select(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((sample) =>
    sample.name === name &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  );
}

/** Scrapes `/metrics`, checks its content type, and runs `promtool check metrics` on it. */
async function scrape(gw: { url: string }): Promise<{ text: string; samples: Sample[] }> {
  const answer = await call(gw, "/metrics");
  assertEquals(answer.status, 200, "GET /metrics status");
  assertMatch(answer.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const promtool = await promtoolCheck(answer.text);
  assertEquals(promtool, { code: 0, output: "" }, "promtool check metrics");
  return { text: answer.text, samples: parseMetrics(answer.text) };
}

/** Pipes `text` to `promtool check metrics`; its exit code and everything it printed. */
async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, output: (decoder.decode(stdout) + decoder.decode(stderr)).trim() };
}

/** Runs the program until it exits on its own (or is killed after `timeoutMs`). */
async function runToExit(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway-e2e-config-" });
  try {
    const baseEnv: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      PORT: String(freePort()),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
    };
    const denoDir = Deno.env.get("DENO_DIR");
    if (denoDir) baseEnv.DENO_DIR = denoDir;
    const signal = AbortSignal.timeout(timeoutMs);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P=gateway", "--config", CONFIG, MAIN],
      env: { ...baseEnv, ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      timedOut: signal.aborted,
    };
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Polls `/ready` until it answers 200 or `timeoutMs` passes; returns the last answer. */
async function readyWithin(gw: { url: string }, timeoutMs: number): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await call(gw, "/ready");
    if (answer.status === 200 || Date.now() > deadline) return answer;
    await delay(100);
  }
}

/** Starts several gateways at once; when one fails to start, stops the others before throwing. */
async function startTogether(
  options: Array<Parameters<typeof startGateway>[0]>,
): Promise<GatewayProcess[]> {
  const results = await Promise.allSettled(options.map((o) => startGateway(o)));
  const failed = results.find((r) => r.status === "rejected");
  if (!failed) return results.map((r) => (r as PromiseFulfilledResult<GatewayProcess>).value);
  for (const result of results) {
    if (result.status === "fulfilled") await result.value[Symbol.asyncDispose]();
  }
  throw failed.reason;
}

/** The last lines the gateway wrote, for failure messages. */
function outputTail(gw: GatewayProcess): string {
  return `${gw.stdout().slice(-20).join("\n")}\nstderr:\n${gw.stderr().slice(-3000)}`;
}

/** Everything the gateway wrote: stdout lines and stderr text. */
function allOutput(gw: GatewayProcess): string {
  return `${gw.stdout().join("\n")}\n${gw.stderr()}`;
}

function assertNoSecrets(where: string, text: string, secrets: Record<string, string>): void {
  for (const [name, secret] of Object.entries(secrets)) {
    assert(!text.includes(secret), `${where} contains the ${name}`);
  }
}

/** The first-run key an embedded installation wrote to its data folder. */
async function firstApiKey(dataDir: string): Promise<string> {
  return (await Deno.readTextFile(join(dataDir, "first-api-key"))).trim();
}

// ---------------------------------------------------------------------------------------------
// 1. Health and readiness
// ---------------------------------------------------------------------------------------------

Deno.test("health is ok and readiness reports the embedded database ok and no redis", async () => {
  await using gw = await startGateway();
  const health = await call(gw, "/health");
  assertEquals([health.status, health.json()], [200, { status: "ok" }]);
  const ready = await call(gw, "/ready");
  assertEquals([ready.status, ready.json()], [200, {
    status: "ready",
    checks: { database: "ok", redis: "not_configured" },
  }]);
});

Deno.test("readiness reports redis ok when REDIS_URL reaches a running redis", async () => {
  await using gw = await startGateway({ env: { REDIS_URL: "redis://127.0.0.1:6379" } });
  // Start-up does not wait for Redis: the connection may take a moment.
  const ready = await readyWithin(gw, 5000);
  assertEquals([ready.status, ready.json()], [200, {
    status: "ready",
    checks: { database: "ok", redis: "ok" },
  }]);
});

Deno.test("an unreachable redis makes readiness 503 while health and requests keep working", async () => {
  await using gw = await startGateway({
    env: { REDIS_URL: `redis://127.0.0.1:${freePort()}` },
  });
  const first = await call(gw, "/ready");
  assertEquals(first.status, 503, `GET /ready: ${first.text}`);
  const body = first.json<{ status: string; checks: Record<string, string> }>();
  assertEquals(body.checks, { database: "ok", redis: "failing" });
  assertNotEquals(body.status, "ready");
  assertEquals((await call(gw, "/health")).status, 200);

  // Let the client fail to reconnect a few times: the process must stay up and keep serving.
  await delay(1500);
  assertEquals((await call(gw, "/health")).status, 200, "health after reconnect attempts");
  assertEquals((await call(gw, "/ready")).status, 503, "still not ready");
  const answer = await chat(gw, await firstApiKey(gw.dataDir));
  assertEquals(answer.status, 200, `chat completion without redis: ${answer.text}`);
  assertEquals(await gw.stop(), 0, "exit code after SIGTERM");
  assert(!gw.stderr().includes("Uncaught"), `an uncaught error on stderr:\n${gw.stderr()}`);
});

Deno.test("readiness reports the PostgreSQL database ok when DATABASE_URL is set", async () => {
  await using db = await createDatabase();
  await using gw = await startGateway({ env: { DATABASE_URL: db.url } });
  const ready = await call(gw, "/ready");
  assertEquals([ready.status, ready.json()], [200, {
    status: "ready",
    checks: { database: "ok", redis: "not_configured" },
  }]);
  assertEquals(await gw.stop(), 0);
});

// ---------------------------------------------------------------------------------------------
// 2. Metrics
// ---------------------------------------------------------------------------------------------

Deno.test("metrics count requests by route template and expose latency and process series", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN } });
  const { tenantId, key } = await createTenantWithKey(gw, ADMIN_TOKEN);
  assertEquals((await call(gw, "/health")).status, 200);
  assertEquals((await chat(gw, key)).status, 200);
  assertEquals((await call(gw, "/nope/123")).status, 404);
  assertEquals((await call(gw, "/v1/chat/completions", { body: CHAT })).status, 401);
  assertEquals(
    (await call(gw, `/internal/tenants/${tenantId}`, { token: ADMIN_TOKEN })).status,
    200,
  );

  const { text, samples } = await scrape(gw);
  const requests = (labels: Record<string, string>) =>
    select(samples, "gateway_request_total", labels);

  const ok = requests({ path: "/v1/chat/completions", method: "POST", status: "200" });
  assertEquals(ok.length, 1, "one series for successful chat completions");
  assert(ok[0].value >= 1, "successful chat completions counted");
  assertEquals(requests({ path: "/health", method: "GET", status: "200" }).length, 1);

  // A rejected request to a known route counts under that route, not a wildcard.
  const unauthorized = requests({ method: "POST", status: "401" });
  assertEquals(
    unauthorized.map((s) => s.labels.path),
    ["/v1/chat/completions"],
    "path label of a 401 on POST /v1/chat/completions",
  );

  // Unknown URLs share one fixed label: a scanner must not create a series per URL.
  assert(!text.includes("/nope/123"), "the raw unknown URL appears in the metrics");
  const notFound = requests({ method: "GET", status: "404" });
  assertEquals(notFound.length, 1, "one 404 series");
  assert(!notFound[0].labels.path.includes("nope"), `404 path label: ${notFound[0].labels.path}`);

  const tenantPath = requests({ method: "GET", status: "200" }).map((s) => s.labels.path);
  assert(tenantPath.includes("/internal/tenants/:id"), `paths: ${tenantPath.join(", ")}`);
  assert(!text.includes(tenantId), "a tenant id appears in the metrics");

  const buckets = select(samples, "gateway_request_latency_seconds_bucket", {
    path: "/v1/chat/completions",
    method: "POST",
    status: "200",
  });
  const bounds = buckets.map((s) => sampleValue(s.labels.le));
  assert(bounds.includes(Infinity), "a +Inf bucket");
  assert(Math.max(...bounds.filter(Number.isFinite)) >= 300, `buckets: ${bounds.join(", ")}`);
  assertEquals(
    select(samples, "gateway_request_latency_seconds_count", {
      path: "/v1/chat/completions",
      status: "200",
    }).map((s) => s.value),
    [1],
  );

  const upstream = select(samples, "gateway_upstream_latency_seconds_count", {
    provider: "mock",
    model: MODEL,
    // The single upstream's deployment, named after its provider.
    deployment: "mock",
    success: "true",
  });
  assertEquals(upstream.map((s) => s.value), [1], "mock upstream calls");
  assert(
    select(samples, "gateway_upstream_latency_seconds_bucket", { provider: "mock" }).length > 0,
    "upstream latency buckets",
  );

  const [rss] = select(samples, "process_resident_memory_bytes");
  assert(rss && rss.value > 1_000_000, "process_resident_memory_bytes");
  const [cpu] = select(samples, "process_cpu_seconds_total");
  assert(cpu && cpu.value > 0, "process_cpu_seconds_total");
  const [start] = select(samples, "process_start_time_seconds");
  const now = Date.now() / 1000;
  assert(start && start.value > now - 120 && start.value <= now + 1, "process_start_time_seconds");
});

Deno.test("a failing upstream shows in the upstream failure and latency metrics", async () => {
  await using upstream = startFakeUpstream({ status: 500 });
  await using gw = await startGateway({
    // One attempt: retries have their own tests (e2e_routing_test.ts).
    env: {
      ADMIN_TOKEN,
      OPENAI_BASE_URL: upstream.url,
      OPENAI_API_KEY: "sk-upstream-e2e",
      UPSTREAM_MAX_ATTEMPTS: "1",
    },
  });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN);
  assertOpenAIError(await chat(gw, key), 502, "chat completion through a failing upstream");

  const { samples } = await scrape(gw);
  const failures = select(samples, "gateway_upstream_failures_total", {
    provider: "openai",
    model: MODEL,
    deployment: `openai:${new URL(upstream.url).host}`,
    error: "server_error",
  });
  assertEquals(failures.map((s) => s.value), [1], "server_error failures");
  const failed = select(samples, "gateway_upstream_latency_seconds_count", {
    provider: "openai",
    success: "false",
  });
  assertEquals(failed.map((s) => s.value), [1], "failed upstream calls timed");
  assertEquals(
    select(samples, "gateway_request_total", { path: "/v1/chat/completions", status: "502" })
      .map((s) => s.value),
    [1],
  );
});

// ---------------------------------------------------------------------------------------------
// 3. Logs
// ---------------------------------------------------------------------------------------------

Deno.test("request_completed log lines carry the seed's fields, also in the log file, and no secrets", async () => {
  const openaiKey = `sk-upstream-${crypto.randomUUID()}`;
  await using upstream = startFakeUpstream();
  const logDir = await Deno.makeTempDir({ prefix: "gateway-e2e-logs-" });
  try {
    const logFile = join(logDir, "logs", "app.log");
    await using gw = await startGateway({
      env: {
        ADMIN_TOKEN,
        OPENAI_BASE_URL: upstream.url,
        OPENAI_API_KEY: openaiKey,
        LOG_FILE_PATH: logFile,
      },
    });
    const started = Date.now();
    await gw.waitForRecord((r) => r.message === "application_startup");
    const { tenantId, keyId, key } = await createTenantWithKey(gw, ADMIN_TOKEN);

    // The client's trace id is answered as X-Request-Id and carried by the log line.
    const traced = await chat(gw, key, { headers: { "x-trace-id": "e2e-trace-1" } });
    assertEquals(traced.status, 200, traced.text);
    assertEquals(traced.headers.get("x-request-id"), "e2e-trace-1");
    // Without one, the gateway makes one up and still answers it.
    const untraced = await chat(gw, key, { body: { ...CHAT, stream: true } });
    assertEquals(untraced.status, 200, untraced.text);
    assertStringIncludes(untraced.text, "data: [DONE]");
    const generated = untraced.headers.get("x-request-id");
    assert(generated, "X-Request-Id on a request without X-Trace-Id");

    for (const traceId of ["e2e-trace-1", generated]) {
      const line = await gw.waitForRecord((r) =>
        r.message === "request_completed" && r.trace_id === traceId
      );
      assertMatch(String(line.timestamp), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
      const at = Date.parse(String(line.timestamp));
      assert(at >= started - 1000 && at <= Date.now() + 1000, `timestamp ${line.timestamp}`);
      assertEquals(line.level, "INFO");
      assert(typeof line.logger === "string" && line.logger.length > 0, "logger");
      assertEquals(line.tenant_id, tenantId);
      assertEquals(line.api_key_id, keyId);
      assertEquals(line.model, MODEL);
      assertEquals(line.status_code, 200);
      assert(typeof line.latency_ms === "number" && line.latency_ms >= 0, "latency_ms");
      // The fake upstream reports 11 prompt and 7 completion tokens, streamed or not.
      assertEquals(line.tokens, { input: 11, output: 7 }, `tokens of ${traceId}`);
    }

    // An upstream failure makes the gateway log an error: it must not leak the upstream key.
    upstream.behaviour = { status: 500 };
    assertEquals((await chat(gw, key)).status, 502);
    await gw.waitForRecord((r) => r.message === "upstream_error");
    assert(
      upstream.received.some((r) => r.headers.authorization === `Bearer ${openaiKey}`),
      "the upstream received OPENAI_API_KEY",
    );

    assertEquals(await gw.stop("SIGTERM"), 0, "exit code after SIGTERM");
    const records = gw.records();
    assertEquals(records[0]?.message, "application_startup", "first line");
    assertEquals(records.at(-1)?.message, "application_shutdown", "last line");

    const fileText = await Deno.readTextFile(logFile);
    const fileLines = fileText.split("\n").filter((line) => line.length > 0);
    assertEquals(fileLines, gw.stdout(), "the log file holds the same lines as stdout");
    for (const line of fileLines) JSON.parse(line);

    const secrets = { "API key": key, ADMIN_TOKEN, OPENAI_API_KEY: openaiKey };
    assertNoSecrets("stdout", gw.stdout().join("\n"), secrets);
    assertNoSecrets("stderr", gw.stderr(), secrets);
    assertNoSecrets("the log file", fileText, secrets);
  } finally {
    await Deno.remove(logDir, { recursive: true });
  }
});

Deno.test("LOG_JSON_FORMAT=false writes the seed's text lines", async () => {
  await using gw = await startGateway({ env: { LOG_JSON_FORMAT: "false" } });
  const answer = await chat(gw, await firstApiKey(gw.dataDir));
  assertEquals(answer.status, 200, answer.text);
  const traceId = answer.headers.get("x-request-id");
  assertEquals(await gw.stop(), 0);

  const lines = gw.stdout();
  assert(lines.length > 0, "no log lines");
  for (const line of lines) {
    assertMatch(line, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \| [A-Z]+ \| [\w.]+ \| \w+/);
  }
  assert(lines.some((l) => / \| INFO \| [\w.]+ \| application_startup\b/.test(l)), "startup");
  assert(lines.some((l) => / \| INFO \| [\w.]+ \| application_shutdown\b/.test(l)), "shutdown");
  const completed = lines.filter((l) => l.includes(`trace_id=${traceId}`));
  assertEquals(completed.length, 1, `one line with trace_id=${traceId}:\n${lines.join("\n")}`);
  assertMatch(
    completed[0],
    /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \| INFO \| [\w.]+ \| request_completed \| trace_id=\S+ /,
  );
  assertMatch(completed[0], / tenant_id=tnt_\w+/);
  assertMatch(completed[0], / status_code=200\b/);
});

Deno.test("LOG_LEVEL=WARNING hides request_completed but still logs upstream errors", async () => {
  await using upstream = startFakeUpstream({ status: 500 });
  await using gw = await startGateway({
    env: { LOG_LEVEL: "WARNING", OPENAI_BASE_URL: upstream.url },
  });
  const key = await firstApiKey(gw.dataDir);
  assertEquals((await chat(gw, key)).status, 502);
  upstream.behaviour = {};
  assertEquals((await chat(gw, key)).status, 200);
  assertEquals(await gw.stop(), 0);

  const records = gw.records();
  assertEquals(records.length, gw.stdout().length, "only JSON lines on stdout");
  assert(records.some((r) => r.message === "upstream_error"), "the upstream_error line");
  const messages = records.map((r) => r.message);
  assert(!messages.includes("request_completed"), `lines: ${messages.join(", ")}`);
  for (const record of records) {
    assert(["WARNING", "ERROR", "CRITICAL"].includes(String(record.level)), `${record.level}`);
  }
});

// ---------------------------------------------------------------------------------------------
// 4. Configuration errors
// ---------------------------------------------------------------------------------------------

Deno.test("an invalid setting stops the start and names the variable and what it accepts", async () => {
  const cases: Array<[string, string, RegExp]> = [
    ["PORT", "abc", /0 to 65535/],
    ["LOG_LEVEL", "LOUD", /DEBUG.*INFO.*WARNING.*ERROR.*CRITICAL/],
    ["LOG_ROTATION", "huge", /size/i],
    ["LOG_RETENTION", "forever", /duration/i],
    ["DATABASE_URL", "mysql://x", /postgres(ql)?:\/\//],
    ["MAX_BODY_BYTES", "0", /whole number from 1\b/],
  ];
  const results = await Promise.all(cases.map(([name, value]) => runToExit({ [name]: value })));
  for (const [index, [name, value, accepts]] of cases.entries()) {
    const { code, stdout, stderr, timedOut } = results[index];
    const context = `${name}=${value}`;
    assert(!timedOut, `${context}: the gateway started instead of stopping`);
    assertNotEquals(code, 0, `${context}: exit code`);
    const line = stderr.split("\n").find((l) => l.includes(name));
    assert(line, `${context}: stderr does not name ${name}:\n${stderr}`);
    assertMatch(line, accepts, `${context}: what ${name} accepts`);
    assert(!stdout.includes("application_startup"), `${context}: it logged a start`);
  }
});

// ---------------------------------------------------------------------------------------------
// 5. Graceful shutdown
// ---------------------------------------------------------------------------------------------

Deno.test("SIGTERM lets a stream in flight finish, refuses new connections and exits 0", async () => {
  await using upstream = startFakeUpstream({ chunks: 6, chunkDelayMs: 200 });
  await using gw = await startGateway({
    env: { OPENAI_BASE_URL: upstream.url, SHUTDOWN_TIMEOUT_MS: "10000" },
  });
  const response = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await firstApiKey(gw.dataDir)}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ ...CHAT, stream: true }),
  });
  assertEquals(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("part0")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
  }
  assertStringIncludes(text, "part0", "the first content chunk before SIGTERM");

  let exitedYet = false;
  const exited = gw.stop("SIGTERM").finally(() => exitedYet = true);
  try {
    // New connections are refused while the stream is still being served.
    let refused = false;
    const deadline = Date.now() + 1000;
    while (!refused && Date.now() < deadline) {
      try {
        const connection = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
        connection.close();
        await delay(25);
      } catch (error) {
        // A connection that reached the backlog as the listener closed is reset, not served:
        // to a client that is a refusal too.
        refused = error instanceof Deno.errors.ConnectionRefused ||
          error instanceof Deno.errors.ConnectionReset;
        if (!refused) throw error;
      }
    }
    assert(refused, "a new connection was still accepted 1 s after SIGTERM");
    assert(!exitedYet, "the process exited before the stream in flight had finished");

    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  for (let i = 0; i < 6; i++) assertStringIncludes(text, `part${i}`);
  assert(text.trimEnd().endsWith("data: [DONE]"), `the stream's end:\n${text.slice(-300)}`);
  assertEquals(await exited, 0, "exit code after SIGTERM");
  const shutdown = gw.records().find((r) => r.message === "application_shutdown");
  assert(shutdown, "application_shutdown logged");
  assertEquals(shutdown.signal, "SIGTERM");
});

Deno.test("SIGINT (Ctrl-C) stops the gateway with exit code 0", async () => {
  await using gw = await startGateway();
  assertEquals(await gw.stop("SIGINT"), 0);
  const shutdown = gw.records().find((r) => r.message === "application_shutdown");
  assert(shutdown, `application_shutdown logged:\n${gw.stdout().join("\n")}`);
  assertEquals(shutdown.signal, "SIGINT");
});

Deno.test("a second gateway on the same DATA_DIR is refused at start and the first serves on", async () => {
  await using first = await startGateway();
  await using second = await startGateway({ dataDir: first.dataDir, waitReady: false });
  const failed = await second.waitForRecord((r) => r.message === "application_startup_failed");
  assertEquals(failed.level, "CRITICAL");
  assertEquals(failed.reason, "data_dir");
  assertMatch(
    String((failed.error as { message?: string }).message),
    /another gateway process \(pid \d+\) holds it/,
  );
  assertEquals(await second.stop(), 1);
  assertEquals((await fetch(`${first.url}/health`)).status, 200);
  // Its lock goes with it, however it ends: the next process on the folder starts.
  await first.stop("SIGKILL");
  await using third = await startGateway({ dataDir: first.dataDir });
  assertEquals((await fetch(`${third.url}/health`)).status, 200);
});

// ---------------------------------------------------------------------------------------------
// 6. Admin API
// ---------------------------------------------------------------------------------------------

Deno.test("without ADMIN_TOKEN the internal API answers 404 with an OpenAI error body", async () => {
  await using gw = await startGateway();
  assertOpenAIError(await call(gw, "/internal/tenants/x"), 404, "GET without a token");
  assertOpenAIError(
    await call(gw, "/internal/tenants", { token: "some-token-0123456789", body: { name: "a" } }),
    404,
    "POST with a token",
  );
});

Deno.test("the admin API manages tenants, keys and credits, and audits every change", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN } });

  assertOpenAIError(await call(gw, "/internal/tenants/x"), 401, "no admin token");
  assertOpenAIError(
    await call(gw, "/internal/tenants", { token: `${ADMIN_TOKEN}x`, body: { name: "a" } }),
    401,
    "wrong admin token",
  );
  assertOpenAIError(
    await call(gw, "/internal/tenants/x", { headers: { authorization: ADMIN_TOKEN } }),
    401,
    "admin token without 'Bearer'",
  );

  const created = await call(gw, "/internal/tenants", {
    token: ADMIN_TOKEN,
    body: { name: "acme", balance_usd: 12.5 },
  });
  assertEquals(created.status, 201, created.text);
  const tenant = created.json<{ id: string; balance_usd: number; name: string }>();
  assertEquals(typeof tenant.id, "string");
  assertEquals([tenant.name, tenant.balance_usd], ["acme", 12.5]);
  const createTrace = created.headers.get("x-request-id");

  const fetched = await call(gw, `/internal/tenants/${tenant.id}`, { token: ADMIN_TOKEN });
  assertEquals(fetched.status, 200);
  assertEquals(fetched.json().balance_usd, 12.5);
  assertOpenAIError(
    await call(gw, "/internal/tenants/tnt_doesnotexist", { token: ADMIN_TOKEN }),
    404,
    "unknown tenant",
  );

  const keyAnswer = await call(gw, `/internal/tenants/${tenant.id}/keys`, {
    token: ADMIN_TOKEN,
    body: { name: "ci" },
  });
  assertEquals(keyAnswer.status, 201, keyAnswer.text);
  const apiKey = keyAnswer.json<{ id: string; key: string }>();
  assertEquals(typeof apiKey.id, "string");
  assert(apiKey.key.startsWith("sk-gw-"), `key format: ${apiKey.key.slice(0, 8)}…`);

  const listed = await call(gw, `/internal/tenants/${tenant.id}/keys`, { token: ADMIN_TOKEN });
  assertEquals(listed.status, 200);
  const keys = listed.json<{ data: Array<Record<string, unknown>> }>().data;
  assertEquals(keys.map((k) => k.id), [apiKey.id]);
  assert(!("key" in keys[0]), "the listing has a key field");
  assert(!listed.text.includes(apiKey.key), "the listing holds the secret");

  const credited = await call(gw, `/internal/tenants/${tenant.id}/credits`, {
    token: ADMIN_TOKEN,
    body: { amount_usd: 2.25 },
  });
  assertEquals(credited.status, 200, credited.text);
  assertEquals(credited.json().balance_usd, 14.75);
  assertEquals(
    (await call(gw, `/internal/tenants/${tenant.id}`, { token: ADMIN_TOKEN })).json().balance_usd,
    14.75,
  );

  const invalid: Array<[string, unknown]> = [
    ["/internal/tenants", { name: "neg", balance_usd: -1 }],
    ["/internal/tenants", { name: "extra", balance_usd: 1, plan: "gold" }],
    ["/internal/tenants", "{not json"],
    ["/internal/tenants", { balance_usd: 1 }],
    [`/internal/tenants/${tenant.id}/credits`, { amount_usd: -5 }],
    [`/internal/tenants/${tenant.id}/credits`, "not json"],
    [`/internal/tenants/${tenant.id}/keys`, { name: "k", scope: "all" }],
  ];
  for (const [path, body] of invalid) {
    assertOpenAIError(
      await call(gw, path, { token: ADMIN_TOKEN, body }),
      400,
      `POST ${path} ${JSON.stringify(body)}`,
    );
  }
  assertEquals(
    (await call(gw, `/internal/tenants/${tenant.id}`, { token: ADMIN_TOKEN })).json().balance_usd,
    14.75,
    "balance unchanged by refused requests",
  );

  // The key works (and is now cached), then stops working the moment it is revoked.
  assertEquals((await chat(gw, apiKey.key)).status, 200, "the new key works");
  const revoked = await call(gw, `/internal/keys/${apiKey.id}`, {
    method: "DELETE",
    token: ADMIN_TOKEN,
  });
  assertEquals(revoked.status, 200, revoked.text);
  assert(revoked.json().revoked_at, "revoked_at is set");
  assertOpenAIError(await chat(gw, apiKey.key), 401, "the revoked key");
  assertOpenAIError(
    await call(gw, "/internal/keys/key_doesnotexist", { method: "DELETE", token: ADMIN_TOKEN }),
    404,
    "revoking an unknown key",
  );

  assertEquals(await gw.stop(), 0);
  const store = new SqliteStore({ dataDir: gw.dataDir });
  try {
    const audit = await store.listAudit({ tenantId: tenant.id, limit: 100 });
    const actions = audit.filter((entry) => entry.actor === "admin").map((entry) => entry.action);
    for (const action of ["tenant.create", "api_key.create", "tenant.credit", "api_key.revoke"]) {
      assert(actions.includes(action), `audit ${action}; found ${actions.join(", ")}`);
    }
    const creation = audit.find((entry) => entry.action === "tenant.create");
    assertEquals(creation?.traceId, createTrace, "the audit entry carries the request's trace id");
    const revocation = audit.find((entry) => entry.action === "api_key.revoke");
    assertEquals(revocation?.target, apiKey.id);
  } finally {
    await store.close();
  }
});

Deno.test("a key revoked on one instance stops working on another sharing PostgreSQL within 2 s", async () => {
  await using db = await createDatabase();
  const env = { DATABASE_URL: db.url, ADMIN_TOKEN, KEY_CACHE_TTL_MS: "1000" };
  // Both start at once, as two replicas do: they migrate the same database concurrently.
  const [a, b] = await startTogether([{ env }, { env }]);
  await using instanceA = a;
  await using instanceB = b;
  for (const gw of [instanceA, instanceB]) {
    const ready = await call(gw, "/ready");
    assertEquals([ready.status, ready.json()], [200, {
      status: "ready",
      checks: { database: "ok", redis: "not_configured" },
    }]);
  }

  const { tenantId, keyId, key } = await createTenantWithKey(instanceA, ADMIN_TOKEN);
  const onB = await call(instanceB, `/internal/tenants/${tenantId}`, { token: ADMIN_TOKEN });
  assertEquals(onB.status, 200, "instance B sees the tenant created on A");
  assertEquals((await chat(instanceB, key)).status, 200, "the key works on B (and is cached)");
  assertEquals((await chat(instanceA, key)).status, 200, "the key works on A");

  const revoked = await call(instanceA, `/internal/keys/${keyId}`, {
    method: "DELETE",
    token: ADMIN_TOKEN,
  });
  assertEquals(revoked.status, 200, revoked.text);
  const revokedAt = performance.now();
  assertEquals((await chat(instanceA, key)).status, 401, "at once on the revoking instance");

  let status = 200;
  while (status !== 401 && performance.now() - revokedAt < 3000) {
    status = (await chat(instanceB, key)).status;
    if (status !== 401) await delay(100);
  }
  const elapsed = performance.now() - revokedAt;
  assertEquals(status, 401, "the revoked key still works on instance B after 3 s");
  assert(elapsed <= 2000, `instance B took ${Math.round(elapsed)} ms to refuse the revoked key`);
  assertEquals(await instanceA.stop(), 0);
  assertEquals(await instanceB.stop(), 0);
});

// ---------------------------------------------------------------------------------------------
// 7. Embedded first run
// ---------------------------------------------------------------------------------------------

Deno.test("a fresh embedded install writes a private first API key that works and prints how to use it", async () => {
  await using gw = await startGateway();
  const path = join(gw.dataDir, "first-api-key");
  const info = await Deno.stat(path);
  assertEquals((info.mode ?? 0) & 0o777, 0o600, "mode of first-api-key");
  const key = await firstApiKey(gw.dataDir);
  assert(key.startsWith("sk-gw-"), "the file holds an API key");

  const answer = await chat(gw, key);
  assertEquals(answer.status, 200, answer.text);
  assertEquals(answer.json<{ object: string }>().object, "chat.completion");

  const stderr = gw.stderr();
  assertStringIncludes(stderr, gw.url, "the listen URL on stderr");
  assertStringIncludes(stderr, `curl ${gw.url}/v1/chat/completions`, "a curl example on stderr");
  assertStringIncludes(stderr, path, "the curl example reads the key file");
  assertEquals(await gw.stop(), 0);
  assertNoSecrets("the output", allOutput(gw), { "first API key": key });
});
