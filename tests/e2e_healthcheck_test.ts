/**
 * `gateway healthcheck` against real gateways: the program run as a container's HEALTHCHECK
 * would run it, as a second process beside the one serving.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { createDatabase, psql } from "./databases.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import { freePort, startGateway, waitFor } from "./gateway_process.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

interface HealthcheckRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main.ts healthcheck` with the gateway's permission set and only `env` set. */
async function runHealthcheck(
  env: Record<string, string>,
  args: string[] = [],
): Promise<HealthcheckRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-P=gateway", "--config", CONFIG, MAIN, "healthcheck", ...args],
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      NO_COLOR: "1",
      ...env,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Far above the probe's own 3 s timeout: only a hung process hits it.
    signal: AbortSignal.timeout(30_000),
  }).output();
  // `deno run -P` warns that permission sets are experimental; the compiled binary does not.
  const decode = (bytes: Uint8Array) =>
    new TextDecoder().decode(bytes).split("\n")
      .filter((line) => !line.startsWith("Warning Permissions in the config file"))
      .join("\n").trim();
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("healthcheck exits 0 for a ready gateway, touching neither data folder nor secrets", async () => {
  const adminToken = "healthcheck-admin-token-not-to-print";
  await using gw = await startGateway({ env: { ADMIN_TOKEN: adminToken } });
  const unusedDataDir = `${gw.dataDir}-never-made`;
  const env = {
    PORT: String(gw.port),
    HOST: "127.0.0.1",
    DATA_DIR: unusedDataDir,
    ADMIN_TOKEN: adminToken,
  };

  const ready = await runHealthcheck(env);
  assertEquals(ready.code, 0, `stderr: ${ready.stderr}`);
  assertEquals(ready.stdout.split("\n").length, 1, `one line: ${ready.stdout}`);
  assertMatch(ready.stdout, /^healthy: GET http:\/\/127\.0\.0\.1:\d+\/ready answered 200 /);
  assertStringIncludes(ready.stdout, '"database":"ok"');

  const live = await runHealthcheck(env, ["--live"]);
  assertEquals(live.code, 0, `stderr: ${live.stderr}`);
  assertEquals(live.stdout, `healthy: GET ${gw.url}/health answered 200 {"status":"ok"}`);

  for (const run of [ready, live]) {
    assert(!`${run.stdout}${run.stderr}`.includes(adminToken), "the admin token was printed");
  }
  const made = await Deno.stat(unusedDataDir).then(() => true, () => false);
  assert(!made, "the healthcheck created the data folder: it must not open the database");
});

Deno.test("healthcheck exits 1 at once when nothing listens on PORT", async () => {
  const run = await runHealthcheck({ PORT: String(freePort()), HOST: "127.0.0.1" });
  assertEquals(run.code, 1);
  assertEquals(run.stdout, "");
  assertMatch(run.stderr, /^unhealthy: GET http:\/\/127\.0\.0\.1:\d+\/ready failed: .*refused/i);
  // A refusal is an answer: the probe did not sit out its timeout.
  assert(!run.stderr.includes("no answer within"), run.stderr);
});

Deno.test("healthcheck exits 1 when the gateway's database is gone, and --live still 0", async () => {
  await using db = await createDatabase();
  await using gw = await startGateway({ env: { DATABASE_URL: db.url } });
  const env = { PORT: String(gw.port), HOST: "127.0.0.1" };
  assertEquals((await runHealthcheck(env)).code, 0, "ready with its database");

  await psql(`DROP DATABASE ${new URL(db.url).pathname.slice(1)} WITH (FORCE)`);
  const failed = await waitFor(async () => {
    const run = await runHealthcheck(env);
    return run.code === 0 ? undefined : run;
  }, { what: "unhealthy after the database was dropped", timeoutMs: 20_000 });
  assertEquals(failed.code, 1);
  assertMatch(failed.stderr, /^unhealthy: GET .*\/ready answered 503 /);
  assertStringIncludes(failed.stderr, '"database":"failing"');
  // Liveness touches no dependency: the process must not be restarted for its database.
  assertEquals((await runHealthcheck(env, ["--live"])).code, 0);
});

Deno.test("healthcheck exits 1 while the gateway drains after SIGTERM", async () => {
  // A stream far longer than the test: the drain lasts until the test lets the stream go.
  await using upstream = startFakeUpstream({ chunks: 1000, chunkDelayMs: 200 });
  await using gw = await startGateway({
    env: { OPENAI_BASE_URL: upstream.url, SHUTDOWN_TIMEOUT_MS: "120000" },
  });
  const env = { PORT: String(gw.port), HOST: "127.0.0.1" };
  assertEquals((await runHealthcheck(env)).code, 0, "ready before SIGTERM");

  const key = await Deno.readTextFile(`${gw.dataDir}/first-api-key`);
  const response = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key.trim()}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "upstream-model",
      messages: [{ role: "user", content: "Hello" }],
      stream: true,
    }),
  });
  assertEquals(response.status, 200);
  const reader = response.body!.getReader();
  await reader.read();

  let exited = false;
  const stopped = gw.stop("SIGTERM").finally(() => exited = true);
  await gw.waitForRecord((record) => record.message === "application_draining");
  const draining = await runHealthcheck(env);
  assert(!exited, "the gateway ended before the probe: the test saw no draining");
  assertEquals(draining.code, 1, `while draining: ${draining.stdout}`);
  assertMatch(draining.stderr, /^unhealthy: GET .*\/ready /);

  // The client going away ends the last request in flight, and with it the drain.
  await reader.cancel();
  assertEquals(await stopped, 0);
});

Deno.test("a mistyped subcommand exits 2 instead of starting a second server", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway-subcommand-" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P=gateway", "--config", CONFIG, MAIN, "helthcheck"],
      env: { NO_COLOR: "1", PORT: "0", DATA_DIR: `${dataDir}/data` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    assertEquals(output.code, 2);
    assertStringIncludes(new TextDecoder().decode(output.stderr), "unknown command 'helthcheck'");
    const made = await Deno.stat(`${dataDir}/data`).then(() => true, () => false);
    assert(!made, "the gateway started anyway");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
