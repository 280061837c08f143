/**
 * The release artifacts: the bundle run alone from an empty Deno cache, the compile task's
 * message when Deno's runtime is missing, the checksums, and the release workflow's steps.
 */
import { parse } from "yaml";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";
import { RELEASE_TARGETS } from "../deploy/release/compile.ts";

const ROOT = new URL("../", import.meta.url);
const decoder = new TextDecoder();

interface TaskRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno task <args>` in the repository, bounded in time. */
async function task(args: string[], env: Record<string, string> = {}): Promise<TaskRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(180_000),
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The files below `dir`, none when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) files.push(...await filesUnder(`${dir}/${entry.name}`));
      else files.push(`${dir}/${entry.name}`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files;
}

/** The README's command for running the bundle, split into Deno's arguments. */
async function readmeBundleArgs(): Promise<string[]> {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const command = /^deno run ((?:.*\\\n)*.*) dist\/gateway\.js$/m.exec(readme);
  assert(command, "the README shows how to run dist/gateway.js");
  return command[1].replaceAll("\\\n", " ").split(/\s+/).filter((arg) => arg.length > 0);
}

Deno.test("the bundle runs alone from an empty Deno cache: health, a tenant, a key, a completion", async () => {
  const bundled = await task(["bundle"]);
  assertEquals(bundled.code, 0, `deno task bundle:\n${bundled.stderr}`);

  const dir = await Deno.makeTempDir({ prefix: "gateway-bundle-" });
  try {
    await Deno.copyFile(new URL("dist/gateway.js", ROOT), `${dir}/gateway.js`);
    const denoDir = `${dir}/deno-dir`;
    await Deno.mkdir(denoDir);
    // No deno.json to find, and nothing to download into the empty cache: everything the
    // gateway runs must be inside the one file.
    const args = [
      "run",
      "--no-config",
      "--cached-only",
      ...await readmeBundleArgs(),
      "gateway.js",
    ];
    const adminToken = "release-test-admin-token";
    await using gw = await startGateway({
      args,
      cwd: dir,
      dataDir: `${dir}/data`,
      env: { DENO_DIR: denoDir, ADMIN_TOKEN: adminToken },
    });
    const health = await fetch(`${gw.url}/health`);
    assertEquals([health.status, await health.json()], [200, { status: "ok" }]);

    const { key, tenantId } = await createTenantWithKey(gw, adminToken, { name: "bundle" });
    const completion = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Hi" }] }),
    });
    const answer = await completion.json();
    assertEquals(completion.status, 200, JSON.stringify(answer));
    assertEquals(answer.object, "chat.completion");
    assertEquals(typeof answer.choices[0].message.content, "string");
    // Settled by the SQLite writer's worker, which runs the bundle itself.
    const usage = await waitFor(async () => {
      const response = await fetch(`${gw.url}/internal/tenants/${tenantId}/usage`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      const totals = await response.json();
      return totals.requests === 1 ? totals : undefined;
    }, { what: "the completion's ledger row" });
    assertEquals(usage.input_tokens > 0, true, JSON.stringify(usage));

    // The bundle's healthcheck subcommand, as a container would run it.
    const probe = await new Deno.Command(Deno.execPath(), {
      args: [...args, "healthcheck"],
      cwd: dir,
      env: { DENO_DIR: denoDir, PORT: String(gw.port), HOST: "127.0.0.1", NO_COLOR: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    assertEquals(probe.code, 0, decoder.decode(probe.stderr));
    assertMatch(decoder.decode(probe.stdout), /^healthy: GET \S+\/ready answered 200 /);

    assertEquals(await gw.stop(), 0, "exit code after SIGTERM");
    // Deno keeps its own caches there (V8 code cache, analysis), but no package or module.
    assertEquals(await filesUnder(`${denoDir}/npm`), [], "npm packages downloaded");
    assertEquals(await filesUnder(`${denoDir}/remote`), [], "remote modules downloaded");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task compile points to DENORT_BIN when the runtime it names is missing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gateway-compile-" });
  try {
    const run = await task(["compile", "--output", `${dir}/gateway`], {
      DENORT_BIN: `${dir}/no-such-denort`,
    });
    assertEquals(run.code, 1, run.stderr);
    assertStringIncludes(
      run.stderr,
      `compile: DENORT_BIN is set to '${dir}/no-such-denort', which is not a usable denort binary.`,
    );
    assertStringIncludes(
      run.stderr,
      `https://dl.deno.land/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`,
    );
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assertEquals(left, [], "nothing half-written is left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task compile refuses an unknown argument with its usage", async () => {
  const run = await task(["compile", "--targte", "x86_64-apple-darwin"]);
  assertEquals(run.code, 2);
  assertStringIncludes(run.stderr, "compile: unexpected argument '--targte'; usage:");
});

Deno.test("deno task checksums writes SHA256SUMS that sha256sum -c accepts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gateway-checksums-" });
  try {
    await Deno.writeTextFile(`${dir}/gateway.js`, "console.log('gateway');\n");
    await Deno.writeFile(`${dir}/gateway-x86_64-unknown-linux-gnu`, new Uint8Array([0, 1, 2, 255]));
    await Deno.mkdir(`${dir}/not-an-artifact`);
    const run = await task(["checksums", dir]);
    assertEquals(run.code, 0, run.stderr);
    const lines = (await Deno.readTextFile(`${dir}/SHA256SUMS`)).trimEnd().split("\n");
    assertEquals(lines.map((line) => line.slice(66)), [
      "gateway-x86_64-unknown-linux-gnu",
      "gateway.js",
    ]);
    // The well-known digest of the JavaScript file's bytes, by another implementation.
    const sha256sum = (args: string[]) =>
      new Deno.Command("sha256sum", { args, cwd: dir, stdout: "piped", stderr: "piped" }).output();
    const reference = decoder.decode((await sha256sum(["gateway.js"])).stdout).trim();
    assert(lines.includes(reference), `${reference} not in\n${lines.join("\n")}`);
    assertEquals((await sha256sum(["-c", "SHA256SUMS"])).code, 0);

    // Run again, it does not list its own file; a changed artifact fails the check.
    assertEquals((await task(["checksums", dir])).code, 0);
    assertEquals((await Deno.readTextFile(`${dir}/SHA256SUMS`)).trimEnd().split("\n"), lines);
    await Deno.writeTextFile(`${dir}/gateway.js`, "console.log('tampered');\n");
    assertEquals((await sha256sum(["-c", "SHA256SUMS"])).code, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task checksums fails clearly on a folder without artifacts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gateway-checksums-empty-" });
  try {
    const run = await task(["checksums", dir]);
    assertEquals(run.code, 1);
    assertStringIncludes(run.stderr, `checksums: Cannot write SHA256SUMS as '${dir}' holds no`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The release workflow
// ---------------------------------------------------------------------------------------------

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

interface Workflow {
  on: unknown;
  permissions: unknown;
  jobs: Record<string, { steps: Step[]; strategy?: { matrix: { target: string[] } } }>;
}

Deno.test("the release workflow builds every target on a v* tag, each step a deno task", async () => {
  const workflow = parse(
    await Deno.readTextFile(new URL(".github/workflows/release.yml", ROOT)),
  ) as Workflow;
  const tasks = Object.keys(
    JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks,
  );
  assertEquals(workflow.on, { push: { tags: ["v*"] } });
  assertEquals(workflow.jobs.compile.strategy?.matrix.target, [...RELEASE_TARGETS]);

  const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
  const runs = steps.filter((step) => step.run !== undefined).map((step) => step.run!.trim());
  for (const run of runs) {
    const name = /^deno task ([a-z-]+)(\s|$)/.exec(run)?.[1];
    assert(name && !run.includes("\n"), `not one deno task: ${run}`);
    assert(tasks.includes(name), `deno task ${name} is not in deno.json`);
  }
  assertEquals(runs, [
    "deno task compile --target ${{ matrix.target }}",
    "deno task bundle",
    "deno task checksums",
  ]);

  // Deno at the version CI uses; the release gets everything in dist/, checksums included.
  const ciVersion = /^DENO_VERSION=(\S+)$/m.exec(
    await Deno.readTextFile(new URL(".ci/run", ROOT)),
  )?.[1];
  for (const step of steps.filter((s) => s.uses?.startsWith("denoland/setup-deno@"))) {
    assertEquals(step.with?.["deno-version"], `v${ciVersion}`);
  }
  const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
  assertEquals(upload?.with?.path, "dist/gateway-${{ matrix.target }}");
  const release = steps.find((s) => s.uses?.startsWith("softprops/action-gh-release@"));
  assertEquals(release?.with?.files, "dist/*");
  assertEquals(workflow.permissions, { contents: "write" });
});
