import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { isSecretKey, scrubString } from "./_log_redact.ts";
import {
  addKnownSecrets,
  getLogger,
  type LoggingOptions,
  setupLogging,
  withLogContext,
} from "./logging.ts";

const DEFAULTS = { level: "INFO", json: true, rotationBytes: 1_000_000, retentionMs: 3_600_000 };

/** A synchronous stdout stand-in that keeps what was written. */
function capture() {
  const decoder = new TextDecoder();
  let text = "";
  return {
    target: {
      writeSync(p: Uint8Array): number {
        text += decoder.decode(p);
        return p.length;
      },
    },
    lines: () => text.split("\n").filter((line) => line.length > 0),
    records: () =>
      text.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line)),
  };
}

async function setup(options: Partial<LoggingOptions> = {}) {
  const out = capture();
  const handle = await setupLogging({
    ...DEFAULTS,
    stdout: out.target,
    ...options,
  } as LoggingOptions);
  return { out, handle };
}

Deno.test("a JSON line has the seed's fields: timestamp, level, logger, message, trace_id, then the rest", async () => {
  const { out, handle } = await setup();
  withLogContext({ trace_id: "req-abc123", tenant_id: "tenant-xyz" }, () => {
    getLogger("gateway.http").info("request_completed", {
      api_key_id: "key-123",
      model: "gpt-4",
      latency_ms: 1234,
      status_code: 200,
      tokens: { input: 100, output: 50 },
    });
  });
  await handle.dispose();
  const [line] = out.lines();
  const record = JSON.parse(line);
  assertMatch(record.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assertEquals(Object.keys(record), [
    "timestamp",
    "level",
    "logger",
    "message",
    "trace_id",
    "tenant_id",
    "api_key_id",
    "model",
    "latency_ms",
    "status_code",
    "tokens",
  ]);
  assertEquals({ ...record, timestamp: undefined }, {
    timestamp: undefined,
    level: "INFO",
    logger: "gateway.http",
    message: "request_completed",
    trace_id: "req-abc123",
    tenant_id: "tenant-xyz",
    api_key_id: "key-123",
    model: "gpt-4",
    latency_ms: 1234,
    status_code: 200,
    tokens: { input: 100, output: 50 },
  });
  assertEquals(out.lines().length, 1);
});

Deno.test("the text format reads like the seed's example, nested fields dotted and spaces quoted", async () => {
  const { out, handle } = await setup({ json: false });
  withLogContext({ trace_id: "req-abc123", tenant_id: "tenant-xyz" }, () => {
    getLogger("gateway.http").info("request_completed");
    getLogger("gateway.http").warning("upstream_slow", {
      tokens: { input: 100 },
      reason: "took too long",
      models: ["a", "b"],
    });
  });
  await handle.dispose();
  const [first, second] = out.lines();
  assertMatch(
    first,
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| INFO \| gateway\.http \| request_completed \| trace_id=req-abc123 tenant_id=tenant-xyz$/,
  );
  assert(
    second.endsWith(
      ' | WARNING | gateway.http | upstream_slow | trace_id=req-abc123 tenant_id=tenant-xyz tokens.input=100 reason="took too long" models=["a","b"]',
    ),
    second,
  );
});

Deno.test("context follows awaits inside withLogContext, stays apart between requests, and is gone outside", async () => {
  const { out, handle } = await setup();
  const log = getLogger("gateway.test");
  const request = (traceId: string, delay: number) =>
    withLogContext({ trace_id: traceId }, async () => {
      await new Promise((resolve) => setTimeout(resolve, delay));
      await withLogContext({ tenant_id: `tenant-${traceId}` }, async () => {
        await Promise.resolve();
        log.info("inner");
      });
      log.info("outer");
    });
  await Promise.all([request("req-1", 20), request("req-2", 5)]);
  log.info("outside");
  await handle.dispose();
  assertEquals(
    out.records().map((r) => [r.message, r.trace_id, r.tenant_id]),
    [
      ["inner", "req-2", "tenant-req-2"],
      ["outer", "req-2", undefined],
      ["inner", "req-1", "tenant-req-1"],
      ["outer", "req-1", undefined],
      ["outside", undefined, undefined],
    ],
  );
});

Deno.test("secrets never reach a line: secret field names and bearer or sk- strings are redacted", async () => {
  const { out, handle } = await setup();
  getLogger("gateway.auth").warning("signature_failed", {
    authorization: "Bearer sk-live-abcdefghijklmnop",
    api_key: "gw-secret-1",
    apiKey: "gw-secret-2",
    api_key_id: "key-123",
    tokens: { input: 1, output: 2 },
    max_tokens: 64,
    headers: { "X-Api-Key": "gw-secret-3", Cookie: "session=gw-secret-4", accept: "*/*" },
    upstream: { config: { signing_secret: "gw-secret-5", password: "gw-secret-6" } },
    detail: "upstream said: invalid key sk-proj-ABCDEFGH12345678, header was Bearer eyJhbGciOi.x.y",
    database: "postgres://gateway:gw-secret-7@db:5432/gateway",
    error: new Error("auth failed for Bearer gw-secret-8"),
  });
  getLogger("gateway.auth").warning("a message with Bearer gw-secret-9 in it");
  await handle.dispose();
  const [line, messageLine] = out.lines();
  assert(!/gw-secret|sk-live|sk-proj|eyJhbGciOi/.test(line), line);
  assertEquals(JSON.parse(messageLine).message, "a message with Bearer [REDACTED] in it");
  const record = JSON.parse(line);
  assertEquals(record.authorization, "[REDACTED]");
  assertEquals(record.api_key, "[REDACTED]");
  assertEquals(record.apiKey, "[REDACTED]");
  assertEquals(record.api_key_id, "key-123");
  assertEquals(record.tokens, { input: 1, output: 2 });
  assertEquals(record.max_tokens, 64);
  assertEquals(record.headers, { "X-Api-Key": "[REDACTED]", Cookie: "[REDACTED]", accept: "*/*" });
  assertEquals(record.upstream.config, { signing_secret: "[REDACTED]", password: "[REDACTED]" });
  assertEquals(
    record.detail,
    "upstream said: invalid key [REDACTED], header was Bearer [REDACTED]",
  );
  assertEquals(record.database, "postgres://gateway:[REDACTED]@db:5432/gateway");
  assertEquals(record.error.message, "auth failed for Bearer [REDACTED]");
});

Deno.test("a field name is secret by its words, not by substrings", () => {
  for (const name of ["authorization", "api_key", "x-api-key", "accessToken", "key", "secret"]) {
    assert(isSecretKey(name), name);
  }
  for (const name of ["client_secret_hash", "signing_secret", "set-cookie", "PASSWORD"]) {
    assert(isSecretKey(name), name);
  }
  for (const name of ["api_key_id", "apiKeyId", "key_prefix", "tokens", "max_tokens", "monkey"]) {
    assert(!isSecretKey(name), name);
  }
  assertEquals(
    scrubString("task-1234567890 and http://host:8080/x"),
    "task-1234567890 and http://host:8080/x",
  );
  assertEquals(scrubString("key sk-abcdefgh1234"), "key [REDACTED]");
});

Deno.test("an error field shows its name and message, and its stack only when the level is DEBUG", async () => {
  const cause = new Error("connect refused");
  for (const level of ["INFO", "DEBUG"] as const) {
    const { out, handle } = await setup({ level });
    const error = Object.assign(new TypeError("upstream failed", { cause }), { code: "ECONN" });
    getLogger("gateway.upstream").error("upstream_error", { error });
    await handle.dispose();
    const [record] = out.records();
    assertEquals(record.level, "ERROR");
    assertEquals(record.error.name, "TypeError");
    assertEquals(record.error.message, "upstream failed");
    assertEquals(record.error.code, "ECONN");
    assertEquals(record.error.cause.message, "connect refused");
    assertEquals(typeof record.error.stack, level === "DEBUG" ? "string" : "undefined");
  }
});

Deno.test("only lines at or above the configured level are written, with the seed's level names", async () => {
  const { out, handle } = await setup({ level: "WARNING" });
  const log = getLogger("gateway.levels");
  log.debug("d");
  log.info("i");
  log.warning("w");
  log.error("e");
  log.critical("c");
  await handle.dispose();
  assertEquals(out.records().map((r) => [r.level, r.message]), [
    ["WARNING", "w"],
    ["ERROR", "e"],
    ["CRITICAL", "c"],
  ]);
});

Deno.test("a field cannot overwrite the four fields every line has", async () => {
  const { out, handle } = await setup();
  getLogger("gateway.fields").info("quota_exceeded", { message: "over budget", level: 3 });
  await handle.dispose();
  const [record] = out.records();
  assertEquals(record.message, "quota_exceeded");
  assertEquals(record.level, "INFO");
  assertEquals(record.field_message, "over budget");
  assertEquals(record.field_level, 3);
});

Deno.test("a CRITICAL line is written at once, not batched", async () => {
  const { out, handle } = await setup();
  getLogger("gateway.crash").info("before");
  getLogger("gateway.crash").critical("database_lost");
  assertEquals(out.records().map((r) => r.message), ["before", "database_lost"]);
  await handle.dispose();
});

Deno.test("lines are batched, then written within about 100 ms without a flush", async () => {
  const { out, handle } = await setup();
  getLogger("gateway.batch").info("one");
  assertEquals(out.lines().length, 0);
  await new Promise((resolve) => setTimeout(resolve, 250));
  assertEquals(out.lines().length, 1);
  await handle.dispose();
});

Deno.test("dispose writes every line to a slow stream, none lost", async () => {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      chunks.push(decoder.decode(chunk));
    },
  });
  const handle = await setupLogging({ ...DEFAULTS, level: "INFO", stdout: stream });
  const log = getLogger("gateway.flood");
  for (let i = 0; i < 5000; i++) log.info("request_completed", { i, path: "/v1/chat/completions" });
  await handle.dispose();
  const lines = chunks.join("").split("\n").filter((line) => line.length > 0);
  assertEquals(lines.length, 5000);
  assertEquals(JSON.parse(lines[4999]).i, 4999);
});

Deno.test("a second setupLogging replaces the first, whose dispose is then harmless", async () => {
  const first = await setup();
  const second = await setup({ json: false });
  getLogger("gateway.again").info("hello");
  await first.handle.dispose();
  getLogger("gateway.again").info("still");
  await second.handle.dispose();
  assertEquals(first.out.lines().length, 0);
  assertEquals(second.out.lines().length, 2);
});

Deno.test("the log file is written in its folder, rotated by size at line boundaries", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "nested", "app.log");
  try {
    const { handle } = await setup({ filePath: path, rotationBytes: 400 });
    const log = getLogger("gateway.file");
    for (let i = 0; i < 30; i++) {
      log.info("request_completed", { i });
      if (i % 7 === 0) await handle.flush();
    }
    await handle.dispose();
    const rotated = [...Deno.readDirSync(join(dir, "nested"))].map((e) => e.name).filter((n) =>
      n !== "app.log"
    ).sort((a, b) => Number(b.split(".").pop()) - Number(a.split(".").pop()));
    assert(rotated.length >= 3, `rotated: ${rotated}`);
    const files = [...rotated, "app.log"].map((n) => Deno.readTextFileSync(join(dir, "nested", n)));
    for (const text of files) {
      assert(new TextEncoder().encode(text).length <= 400, text);
      assert(text.endsWith("\n"), text);
    }
    const numbers = files.join("").split("\n").filter((l) => l).map((l) => JSON.parse(l).i);
    assertEquals(numbers, Array.from({ length: 30 }, (_, i) => i));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rotated files older than the retention are deleted at setup, never the active file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "app.log");
  try {
    const old = new Date(Date.now() - 11 * 24 * 3_600_000);
    for (const name of ["app.log", "app.log.1", "app.log.2", "app.log.3", "other.log.1"]) {
      await Deno.writeTextFile(join(dir, name), `${name}\n`);
    }
    for (const name of ["app.log", "app.log.2", "app.log.3", "other.log.1"]) {
      await Deno.utime(join(dir, name), old, old);
    }
    const { handle } = await setup({ filePath: path, retentionMs: 10 * 24 * 3_600_000 });
    getLogger("gateway.file").info("application_startup");
    await handle.dispose();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, ["app.log", "app.log.1", "other.log.1"]);
    const active = Deno.readTextFileSync(path).split("\n");
    assertEquals(active[0], "app.log");
    assertEquals(JSON.parse(active[1]).message, "application_startup");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the sweep runs again while the gateway runs, not only at setup", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "app.log");
  try {
    // Kept for one second, so the sweep repeats every second instead of hourly.
    const { handle } = await setup({ filePath: path, retentionMs: 1000 });
    const old = new Date(Date.now() - 60_000);
    await Deno.writeTextFile(`${path}.1`, "old\n");
    await Deno.utime(`${path}.1`, old, old);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    await handle.dispose();
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["app.log"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dispose flushes the file: every line logged before it is on disk", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "app.log");
  try {
    const { out, handle } = await setup({ filePath: path, json: false });
    for (let i = 0; i < 1000; i++) getLogger("gateway.file").info("request_completed", { i });
    await handle.dispose();
    const lines = Deno.readTextFileSync(path).split("\n").filter((l) => l);
    assertEquals(lines.length, 1000);
    assert(lines[999].endsWith("| request_completed | i=999"), lines[999]);
    assertEquals(out.lines().length, 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the gateway's own secrets are redacted whatever their shape", () => {
  addKnownSecrets(["local-vllm-token-7c1e94b2d05a", "short", undefined]);
  assertEquals(
    scrubString("authorized by local-vllm-token-7c1e94b2d05a twice local-vllm-token-7c1e94b2d05a"),
    "authorized by [REDACTED] twice [REDACTED]",
  );
  assertEquals(scrubString("a short word"), "a short word");
});
