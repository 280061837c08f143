import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import {
  breakdown,
  type CpuProfile,
  parseProfileName,
  type Phase,
  phaseOf,
  type ProfileNode,
  readProfiles,
  RUNTIME,
} from "./phases.ts";

const SRC = "file:///home/dev/src/gateway/src";
const NPM = "file:///root/.cache/deno/npm/registry.npmjs.org";

/**
 * A profile whose call tree is the union of `stacks` (outermost frame first, under a `(root)`),
 * with one sample per entry of `samples`: the stack it hit and the µs since the sample before.
 */
function profileOf(
  stacks: Record<string, [functionName: string, url: string][]>,
  samples: [stack: string, deltaUs: number][],
  tailUs: number,
): CpuProfile {
  const nodes: ProfileNode[] = [{ id: 1, callFrame: frame("(root)", ""), children: [] }];
  const leafOf = new Map<string, number>();
  for (const [name, frames] of Object.entries(stacks)) {
    let parent = nodes[0];
    for (const [functionName, url] of frames) {
      let node = parent.children!.map((id) => nodes[id - 1]).find((child) =>
        child.callFrame.functionName === functionName && child.callFrame.url === url
      );
      if (!node) {
        node = { id: nodes.length + 1, callFrame: frame(functionName, url), children: [] };
        nodes.push(node);
        parent.children!.push(node.id);
      }
      parent = node;
    }
    leafOf.set(name, parent.id);
  }
  const startTime = 5_000_000;
  const total = samples.reduce((sum, [, delta]) => sum + delta, 0);
  return {
    nodes,
    startTime,
    endTime: startTime + total + tailUs,
    samples: samples.map(([stack]) => leafOf.get(stack)!),
    timeDeltas: samples.map(([, delta]) => delta),
  };
}

function frame(functionName: string, url: string): ProfileNode["callFrame"] {
  return { functionName, url, lineNumber: 0 };
}

const SERVE: [string, string] = ["serve", "ext:deno_http/00_serve.ts"];
const APP: [string, string] = ["fetch", `${SRC}/http/app.ts`];
const COMPOSE: [string, string] = ["dispatch", `${NPM}/hono/4.13.19/dist/compose.js`];
const AUTHENTICATE: [string, string] = ["authenticate", `${SRC}/http/middleware/authenticate.ts`];

const STACKS = {
  app: [SERVE, APP],
  // zod ships a src/ folder of its own, which is no gateway source file.
  zod: [SERVE, APP, COMPOSE, AUTHENTICATE, ["parse", `${NPM}/zod/3.25.76/src/v3/types.ts`]],
  authenticate: [SERVE, APP, COMPOSE, AUTHENTICATE],
  compose: [SERVE, APP, COMPOSE],
  limiter: [SERVE, APP, COMPOSE, ["take", `${SRC}/limits/memory.ts`]],
  serve: [SERVE],
  gc: [["(garbage collector)", ""]],
  idle: [["(idle)", ""]],
  program: [["(program)", ""]],
} satisfies Record<string, [string, string][]>;

// Each sample runs until the next: app 1000 µs, zod 2000, ... the last idle one 10 000 until the
// profile's end. Relative to the start, samples are at 0.1, 1.1, 3.1, 6.1, 10.1, 15.1, 21.1 ms...
const PROFILE = profileOf(STACKS, [
  ["app", 100],
  ["zod", 1000],
  ["authenticate", 2000],
  ["compose", 3000],
  ["limiter", 4000],
  ["serve", 5000],
  ["gc", 6000],
  ["idle", 7000],
  ["program", 8000],
  ["idle", 9000],
], 10_000);

function byPhase(result: ReturnType<typeof breakdown>) {
  return Object.fromEntries(
    result.phases.map(({ phase, samples, usPerRequest }) => [phase, { samples, usPerRequest }]),
  );
}

Deno.test("a sample is charged to the innermost src frame, a library's to the src file calling it", () => {
  const result = breakdown(PROFILE, { requests: 2 });
  assertEquals(byPhase(result), {
    // The app's own frame and hono's dispatch, which the app called.
    "HTTP in and out": { samples: 2, usPerRequest: (1000 + 4000) / 2 },
    // authenticate.ts and zod's parse, which it called.
    "auth": { samples: 2, usPerRequest: (2000 + 3000) / 2 },
    "limits": { samples: 1, usPerRequest: 5000 / 2 },
    [RUNTIME]: { samples: 3, usPerRequest: (6000 + 7000 + 9000) / 2 },
  });
});

Deno.test("samples with no src frame are the runtime's and idle ones are left out of busy", () => {
  const result = breakdown(PROFILE, { requests: 2 });
  const busyUs = 1000 + 2000 + 3000 + 4000 + 5000 + 6000 + 7000 + 9000;
  assertEquals(result.samples, 10);
  assertEquals(result.busyUsPerRequest, busyUs / 2);
  assertEquals(result.idleShare, (8000 + 10_000) / (busyUs + 8000 + 10_000));
  assertEquals(result.phases[0], {
    phase: RUNTIME,
    samples: 3,
    share: (6000 + 7000 + 9000) / busyUs,
    usPerRequest: 11_000,
  });
  assertEquals(result.windowMs, 55.1);
});

Deno.test("a window keeps only the samples taken in it, and divides by its requests", () => {
  // From 3 ms to 20 ms: the samples at 3.1, 6.1, 10.1 and 15.1 ms.
  const result = breakdown(PROFILE, { fromMs: 3, toMs: 20, requests: 1 });
  assertEquals(result.phases.map(({ phase, usPerRequest }) => [phase, usPerRequest]), [
    [RUNTIME, 6000],
    ["limits", 5000],
    ["HTTP in and out", 4000],
    ["auth", 3000],
  ]);
  assertEquals(result.samples, 4);
  assertEquals(result.busyUsPerRequest, 18_000);
  assertEquals(result.idleShare, 0);
  assertEquals(result.windowMs, 17);
});

Deno.test("a breakdown over no requests, or of a sample naming no node, is refused", () => {
  assertMatch(
    assertThrows(() => breakdown(PROFILE, { requests: 0 })).message,
    /'requests' must be positive: current value is 0/,
  );
  const broken = { ...PROFILE, samples: [...PROFILE.samples.slice(0, -1), 999] };
  assertMatch(assertThrows(() => breakdown(broken, { requests: 1 })).message, /node 999/);
});

Deno.test("each src file goes to its phase, from any checkout folder", () => {
  const cases: [string, Phase][] = [
    ["file:///work/main/src/http/routes/v1.ts", "HTTP in and out"],
    ["file:///work/wt/bench-phases/src/http/body.ts", "HTTP in and out"],
    ["file:///home/dev/src/gateway/src/http/middleware/authenticate.ts", "auth"],
    ["file:///tmp/x/src/auth/keys.ts", "auth"],
    ["file:///tmp/x/src/providers/registry.ts", "routing"],
    ["file:///tmp/x/src/routing/router.ts", "routing"],
    ["file:///tmp/x/src/pipeline/admission.ts", "limits"],
    ["file:///tmp/x/src/limits/memory.ts", "limits"],
    ["file:///tmp/x/src/billing/memory_funds.ts", "reservation and metering"],
    ["file:///tmp/x/src/billing/billing.ts", "store writes"],
    ["file:///tmp/x/src/providers/_http1_conn.ts", "upstream call"],
    ["file:///tmp/x/src/pipeline/model_pipeline.ts", "answer"],
    ["file:///tmp/x/src/core/openai.ts", "answer"],
    ["file:///tmp/x/src/observability/_log_format.ts", "logging"],
    ["file:///tmp/x/src/observability/logging.ts", "logging"],
    ["file:///tmp/x/src/observability/trace.ts", "metrics and tracing"],
    ["file:///tmp/x/src/http/middleware/observe.ts", "metrics and tracing"],
    ["file:///tmp/x/src/http/middleware/idempotency.ts", "idempotency"],
    ["file:///tmp/x/src/queue/_spool.ts", "queue"],
    ["file:///tmp/x/src/store/sqlite_writer.ts", "store writes"],
    ["file:///tmp/x/src/audit/writer.ts", "store writes"],
    ["file:///tmp/x/src/responses/service.ts", "store writes"],
    ["file:///tmp/x/src/responses/to_chat.ts", "answer"],
    ["file:///tmp/x/src/config/schema.ts", "other gateway code"],
    [`${NPM}/zod/3.25.76/src/v3/types.ts`, RUNTIME],
    ["ext:core/01_core.js", RUNTIME],
    ["", RUNTIME],
  ];
  assertEquals(cases.map(([url]) => [url, phaseOf(url)]), cases);
});

// Start-up and admin code, and the Redis client that limits, holds and the queue share.
const OTHER_FOLDERS = ["cli", "config", "redis", "status", "tenants"];

Deno.test("every source file of the gateway but its start-up and admin code has a phase", async () => {
  const root = new URL("../../src/", import.meta.url);
  const unplaced: string[] = [];
  const walk = async (dir: URL, path: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir), `${path}${entry.name}/`);
      else if (!/_test(_utils)?\.ts$|_testing\.ts$|\.json$/.test(entry.name)) {
        const url = new URL(entry.name, dir).href;
        const phase = phaseOf(url);
        const folder = path.split("/")[0];
        if (
          phase === RUNTIME || (phase === "other gateway code") !== OTHER_FOLDERS.includes(folder)
        ) {
          unplaced.push(`${path}${entry.name}: ${phase}`);
        }
      }
    }
  };
  await walk(root, "");
  assertEquals(unplaced, []);
});

Deno.test("a profile's name gives its wall-clock start, pid and thread", () => {
  assertEquals(parseProfileName("CPU.1796324752765.2325.cpuprofile"), {
    startedAtMs: 1796324752765,
    pid: 2325,
    worker: null,
  });
  assertEquals(parseProfileName("CPU.1796324753348.2325.worker-1.cpuprofile"), {
    startedAtMs: 1796324753348,
    pid: 2325,
    worker: "worker-1",
  });
  assertEquals(parseProfileName("gateway.log"), null);
});

Deno.test("a process's profiles are read from its folder, the main thread's first", async () => {
  const folder = await Deno.makeTempDir({ prefix: "phases-test-" });
  try {
    const write = (name: string) =>
      Deno.writeTextFile(`${folder}/${name}`, JSON.stringify(PROFILE));
    await write("CPU.1700000000500.42.worker-1.cpuprofile");
    await write("CPU.1700000000000.42.cpuprofile");
    await write("CPU.1700000000000.43.cpuprofile");
    await Deno.writeTextFile(`${folder}/notes.txt`, "not a profile");
    const found = await readProfiles(folder, 42);
    assertEquals(found.map(({ name, startedAtMs, worker }) => ({ name, startedAtMs, worker })), [
      { name: "CPU.1700000000000.42.cpuprofile", startedAtMs: 1700000000000, worker: null },
      {
        name: "CPU.1700000000500.42.worker-1.cpuprofile",
        startedAtMs: 1700000000500,
        worker: "worker-1",
      },
    ]);
    assertEquals(found[0].profile, PROFILE);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
