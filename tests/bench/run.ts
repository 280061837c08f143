/**
 * @module
 * `deno task bench`: measures the gateway against a fast mock upstream with wrk, direct, through
 * the least proxy Deno can be (floor_proxy.ts, the reference for what a share of direct can be),
 * through the gateway, through a gateway routing over two weighted deployments (two mock upstream
 * processes), and through the foundation (an older commit of the gateway, checked out in a
 * temporary git worktree) side by side in interleaved rounds, and Anthropic's `/v1/messages`
 * through the same gateway (translated for the OpenAI-format mock) beside its chat route, as
 * OpenAI's `/v1/responses` is, and chat with a key under tenant controls (model allowlists and
 * period budgets on its tenant and itself) on the same gateway, for its rate, and prints a table
 * and the issues' verdicts. With `--soak=5m` it runs the soak instead: a steady load on the
 * gateway alone, its RSS sampled every 30 s (soak.ts). It is a measurement, so it exits 0
 * whatever the verdicts; it exits non-zero only when something broke.
 */
import { psql } from "../databases.ts";
import { type BaselineTree, checkoutBaseline, removeBaseline } from "./_baseline.ts";
import { assertControlsHold, createApiKey } from "./_keys.ts";
import {
  requireWrk,
  ROOT,
  runStreamClient,
  runWrk,
  type Server,
  startFloorProxy,
  startGateway,
  startMockUpstream,
  WrkMissingError,
} from "./_processes.ts";
import { type BenchOptions, parseBenchOptions, type Stack, USAGE } from "./options.ts";
import { breakdown, formatBreakdown, readProfiles } from "./phases.ts";
import { hasTaskset, type Pinning, planPinning } from "./pinning.ts";
import { formatSoak, judgeSoak, type RssSample, SOAK_SAMPLE_SECONDS } from "./soak.ts";
import { type ProcessMemory, readCpuTicks, readMachineTicks, readMemory } from "./procfs.ts";
import {
  buildResults,
  formatReport,
  type RateSample,
  type RoundSample,
  type StreamSample,
} from "./report.ts";
import type { StreamRequest } from "./stream_client.ts";
import type { WrkResult } from "./wrk_output.ts";

type Target =
  | "direct"
  | "floor"
  | "gateway"
  | "routed"
  | "messages"
  | "responses"
  | "controls"
  | "foundation";

/**
 * Targets measured at 64 connections only: they are judged on their rate alone, and a
 * 1-connection run would only lengthen the rounds.
 */
const RATE_ONLY_TARGETS: ReadonlySet<Target> = new Set(["controls"]);

const CHAT_PATH = "/v1/chat/completions";
const REQUEST = {
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Hello" }],
  max_tokens: 16,
};

/** The request a target is sent, and what the body of its answer must hold. */
interface WrkRequest {
  body: string;
  headers: Record<string, string>;
  /** Text the smoke test's answer must contain. */
  answerHolds: string;
}

function chatRequest(bearer: string): WrkRequest {
  return {
    body: JSON.stringify(REQUEST),
    headers: { "Content-Type": "application/json", "Authorization": `Bearer ${bearer}` },
    answerHolds: '"chat.completion"',
  };
}

/**
 * The same conversation streamed, with a chat target's headers and the usage chunk the gateway
 * asks its upstream for.
 */
function streamRequest({ headers }: WrkRequest): StreamRequest {
  const body = { ...REQUEST, stream: true, stream_options: { include_usage: true } };
  return { headers, body: JSON.stringify(body) };
}

/** The targets whose streams' first chunk is timed. */
const STREAM_TARGETS = ["direct", "gateway"] as const;

/** Streamed requests timed per target and round, per second of `--duration`. */
const STREAMS_PER_SECOND = 200;

const MESSAGES_PATH = "/v1/messages";

/** The same conversation as Anthropic's SDKs send it, with the key as they send it. */
function messagesRequest(key: string): WrkRequest {
  return {
    body: JSON.stringify(REQUEST),
    headers: {
      "Content-Type": "application/json",
      "x-api-key": key,
      "anthropic-version": "2023-06-01",
    },
    answerHolds: '"type":"message"',
  };
}

const RESPONSES_PATH = "/v1/responses";

/** The same conversation through OpenAI's Responses API, stored as it is by default. */
function responsesRequest(bearer: string): WrkRequest {
  return {
    body: JSON.stringify({ model: REQUEST.model, input: "Hello", max_output_tokens: 16 }),
    headers: { "Content-Type": "application/json", "Authorization": `Bearer ${bearer}` },
    answerHolds: '"object":"response"',
  };
}

/** How wrk reaches one target, and the gateway process in its path. */
interface TargetSetup {
  /** The URL of the route measured. */
  url: string;
  request: WrkRequest;
  /** wrk's lua script that sends `request`. */
  script: string;
  /**
   * The gateway whose CPU is sampled and whose log explains a failure; for direct, the gateway
   * under test, idle then, so its figures show what an idle gateway costs.
   */
  gateway: Server;
  /** Whether its requests queue jobs (billing, audit) to wait for after a run. */
  queuesJobs: boolean;
}

/** What the measuring loop needs: the targets in their measuring order, and the mocks. */
interface Bench {
  targets: Map<Target, TargetSetup>;
  /** Both mock upstreams: the first serves direct, gateway and foundation; routed uses both. */
  mocks: Server[];
  clockTicks: number;
  adminToken: string;
  pinning: Pinning;
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(Deno.args, Deno.env.toObject());
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  await requireWrk();
  await using stack = new AsyncDisposableStack();
  const stopOnSignal = () => stack.disposeAsync().finally(() => Deno.exit(130));
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(name, stopOnSignal);
    stack.defer(() => Deno.removeSignalListener(name, stopOnSignal));
  }
  const dir = await Deno.makeTempDir({ prefix: "gateway-bench-" });
  stack.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));

  const pinning = planPinning(navigator.hardwareConcurrency, await hasTaskset());
  progress(pinning.description);
  if (options.soakSeconds !== null) {
    return await soak(stack, options, options.soakSeconds, pinning, dir);
  }

  // First, so a shallow clone or a wrong ref fails before anything starts.
  let baseline: BaselineTree | undefined;
  if (options.baseline !== null) {
    progress(`checking out the foundation (${options.baseline}) into a temporary git worktree`);
    const tree = `${dir}/foundation-tree`;
    stack.defer(() => removeBaseline(ROOT, tree));
    baseline = await checkoutBaseline(ROOT, options.baseline, tree);
  }

  const { targetCpus, loadCpus } = pinning;
  progress("starting the mock upstream and the gateway");
  const mock = await startMockUpstream(dir, loadCpus);
  stack.defer(() => mock.stop());
  const adminToken = crypto.randomUUID().replaceAll("-", "");
  const common = await commonEnv(stack, options.stack);
  const gateway = await startChatGateway(stack, {
    common,
    mock,
    adminToken,
    dir,
    cpus: targetCpus,
  });
  progress("starting a second mock upstream and a gateway routing over both");
  const secondMock = await startMockUpstream(dir, loadCpus, "mock2");
  stack.defer(() => secondMock.stop());
  const routes = {
    [REQUEST.model]: [mock, secondMock].map((server) => ({
      provider: "openai",
      model: REQUEST.model,
      base_url: `${server.url}/v1`,
      weight: 1,
    })),
  };
  const routed = await startGateway(
    {
      ...common,
      DATA_DIR: `${dir}/data-routed`,
      MODEL_ROUTES: JSON.stringify(routes),
      ADMIN_TOKEN: adminToken,
    },
    { logDir: dir, cpus: targetCpus, name: "gateway-routed" },
  );
  stack.defer(() => routed.stop());
  const gateways: [Target, Server][] = [["gateway", gateway], ["routed", routed]];
  if (baseline) {
    progress(`starting the foundation's gateway (${baseline.commit}) on its embedded stack`);
    // It predates the money path, so it has no Redis or PostgreSQL settings that would matter.
    const foundation = await startGateway(
      {
        ...LOGGING,
        DATA_DIR: `${dir}/data-foundation`,
        OPENAI_BASE_URL: `${mock.url}/v1`,
        OPENAI_API_KEY: "bench",
        ADMIN_TOKEN: adminToken,
      },
      { logDir: dir, cpus: targetCpus, name: "gateway-foundation", root: baseline.root },
    );
    stack.defer(() => foundation.stop());
    gateways.push(["foundation", foundation]);
  }

  progress("starting the floor proxy in front of the mock upstream");
  const floor = await startFloorProxy(dir, targetCpus, mock);
  stack.defer(() => floor.stop());
  const direct = chatRequest("bench");
  const directScript = await writeScript(`${dir}/direct.lua`, direct);
  const targets = new Map<Target, TargetSetup>([
    [
      "direct",
      {
        url: `${mock.url}${CHAT_PATH}`,
        request: direct,
        script: directScript,
        gateway,
        queuesJobs: false,
      },
    ],
    [
      "floor",
      {
        url: `${floor.url}${CHAT_PATH}`,
        request: direct,
        script: directScript,
        gateway: floor,
        queuesJobs: false,
      },
    ],
  ]);
  for (const [target, server] of gateways) {
    // The foundation has no rate limits: its admin API would refuse the fields.
    const profile = target === "foundation" ? "plain" : "limited";
    const key = await createApiKey(server.url, { adminToken, profile });
    const request = chatRequest(key);
    // The foundation predates the job queue.
    const queuesJobs = target !== "foundation";
    targets.set(
      target,
      await servedTarget(server, CHAT_PATH, request, `${dir}/${target}.lua`, queuesJobs),
    );
    if (target === "gateway") {
      // The same gateway and mock as chat's: what differs is the route and its translation.
      const messages = messagesRequest(
        await createApiKey(server.url, { adminToken, profile: "limited" }),
      );
      targets.set(
        "messages",
        await servedTarget(server, MESSAGES_PATH, messages, `${dir}/messages.lua`),
      );
      const responses = responsesRequest(
        await createApiKey(server.url, { adminToken, profile: "limited" }),
      );
      targets.set(
        "responses",
        await servedTarget(server, RESPONSES_PATH, responses, `${dir}/responses.lua`),
      );
      // The same route, gateway and limits as chat's: what differs is the key's controls.
      const controlledKey = await createApiKey(server.url, { adminToken, profile: "controlled" });
      await assertControlsHold(`${server.url}${CHAT_PATH}`, controlledKey);
      const controls = chatRequest(controlledKey);
      targets.set(
        "controls",
        await servedTarget(server, CHAT_PATH, controls, `${dir}/controls.lua`),
      );
    }
  }
  const bench: Bench = {
    targets,
    mocks: [mock, secondMock],
    clockTicks: await clockTicksPerSecond(),
    adminToken,
    pinning,
  };
  await smokeTest(bench);
  const memory = (target: Target) => readMemory(targets.get(target)!.gateway.pid);
  // Let the smoke test's jobs and timers settle, so what is read is the gateway at rest.
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
  const gatewayIdleMemory = await memory("gateway");

  const { samples, rates, streams } = await measure(bench, options);
  const gatewayMemory = await memory("gateway");
  const foundationMemory: ProcessMemory | null = baseline ? await memory("foundation") : null;
  const results = buildResults({
    settings: {
      durationSeconds: options.durationSeconds,
      rounds: options.rounds,
      warmupSeconds: options.warmupSeconds,
      stack: options.stack,
      cpus: navigator.hardwareConcurrency,
      pinning: pinning.description,
      baseline: baseline
        ? { ref: baseline.ref, commit: baseline.commit, subject: baseline.subject }
        : null,
    },
    rounds: {
      direct: samples.get("direct")!,
      floor: samples.get("floor")!,
      gateway: samples.get("gateway")!,
      routed: samples.get("routed")!,
      messages: samples.get("messages")!,
      responses: samples.get("responses")!,
      controls: rates.get("controls")!,
      foundation: samples.get("foundation") ?? null,
    },
    streams: { direct: streams.get("direct")!, gateway: streams.get("gateway")! },
    gatewayMemory,
    gatewayIdleMemory,
    foundationMemory,
  });
  console.log(formatReport(results));
  if (options.json) console.log(JSON.stringify(results, null, 2));
  if (options.profileDir !== null) {
    const chat = { common, mock, adminToken, dir, cpus: targetCpus };
    console.log(
      await profilePhases(stack, bench, { chat, profileDir: options.profileDir, options }),
    );
  }
  return 0;
}

/** One run of the profiled gateway: its connections, its requests and when it ran. */
interface ProfiledRun {
  connections: number;
  requests: number;
  /** Wall-clock ms, from wrk's start to the end of the drain of the jobs it caused. */
  startedAt: number;
  endedAt: number;
}

/**
 * `--profile`: one more chat gateway, run with `--cpu-prof`, warmed up at 64 connections, then
 * measured at 1 and at 64 connections; stopped so that V8 writes its profiles (one per thread),
 * and broken down by phase per request over each run's window. A profile is written only when
 * the process exits, so this gateway serves the profiled runs and nothing else.
 */
async function profilePhases(
  stack: AsyncDisposableStack,
  bench: Bench,
  { chat, profileDir, options }: {
    chat: Omit<ChatGatewaySetup, "name" | "denoFlags">;
    profileDir: string;
    options: BenchOptions;
  },
): Promise<string> {
  await Deno.mkdir(profileDir, { recursive: true });
  const folder = await Deno.realPath(profileDir);
  progress(`starting one more chat gateway, with --cpu-prof into ${folder}`);
  const gateway = await startChatGateway(stack, {
    ...chat,
    name: "gateway-profiled",
    denoFlags: ["--cpu-prof", `--cpu-prof-dir=${folder}`],
  });
  const request = chatRequest(
    await createApiKey(gateway.url, { adminToken: bench.adminToken, profile: "limited" }),
  );
  const target = await servedTarget(gateway, CHAT_PATH, request, `${chat.dir}/profiled.lua`);
  const profiled: Bench = { ...bench, targets: new Map([["gateway", target]]) };
  await smokeTest(profiled);
  progress(`warming up the profiled gateway (${options.warmupSeconds} s)`);
  await checked(profiled, "gateway", wrkAt(profiled, "gateway", 64, options.warmupSeconds), 0);
  await drainJobs(gateway, bench.adminToken);
  const runs: ProfiledRun[] = [];
  for (const connections of [1, 64]) {
    progress(`profiled gateway: ${connections} connection${connections === 1 ? "" : "s"}`);
    const startedAt = Date.now();
    const run = wrkAt(profiled, "gateway", connections, options.durationSeconds);
    const { requests } = await checked(profiled, "gateway", run);
    // The jobs a run queued are part of what its requests cost.
    await drainJobs(gateway, bench.adminToken);
    runs.push({ connections, requests, startedAt, endedAt: Date.now() });
  }
  await gateway.stop();
  const profiles = await readProfiles(folder, gateway.pid);
  if (!profiles.some((each) => each.worker === null)) {
    throw new Error(
      `Cannot break the profiled gateway down as it wrote no profile into ${folder}; its ` +
        `output:\n${await gateway.logTail()}`,
    );
  }
  const tables = [];
  for (const { name, worker, startedAtMs, profile } of profiles) {
    const lengthMs = (profile.endTime - profile.startTime) / 1000;
    for (const { connections, requests, startedAt, endedAt } of runs) {
      // Deno names a profile after the wall-clock ms its profiler started at, which its own
      // clock (monotonic) cannot tell; the runs' wall-clock times are thereby times in it, to the
      // ms. Times from the process's spawn would be off by the ~100 ms Deno takes to start V8's
      // profiler, a share of a short run's samples.
      const fromMs = startedAt - startedAtMs;
      const toMs = endedAt - startedAtMs;
      if (fromMs < 0 || toMs > lengthMs) {
        throw new Error(
          `Cannot break ${name} down as its ${lengthMs} ms do not hold the ${connections}-` +
            `connection run, from ${fromMs} to ${toMs} ms after it started`,
        );
      }
      const title = `CPU per request by phase, ${connections} connection` +
        `${connections === 1 ? "" : "s"}, ${worker ?? "main thread"}`;
      tables.push(formatBreakdown(breakdown(profile, { fromMs, toMs, requests }), title));
    }
  }
  return tables.join("\n\n");
}

const IDLE_SETTLE_MS = 2000;

const LOGGING = { LOG_LEVEL: "INFO", LOG_JSON_FORMAT: "true", SHUTDOWN_TIMEOUT_MS: "2000" };

/**
 * What every measured gateway of this checkout shares: its stack's stores (a fresh PostgreSQL
 * database and Redis prefix on the shared stacks, dropped when `stack` is disposed) and its logs.
 */
async function commonEnv(
  stack: AsyncDisposableStack,
  which: Stack,
): Promise<Record<string, string>> {
  if (which === "embedded") return { ...LOGGING };
  const shared = await sharedStack(which);
  stack.defer(() => dropDatabase(shared.DATABASE_URL));
  return { ...shared, ...LOGGING };
}

/** What the chat gateway is started with: the stores' settings, its upstream and its place. */
interface ChatGatewaySetup {
  common: Record<string, string>;
  mock: Server;
  adminToken: string;
  /** The bench's folder, for the gateway's log and data. */
  dir: string;
  cpus: string | null;
  /** "gateway" by default; another name keeps another data folder and log. */
  name?: string;
  denoFlags?: string[];
}

/** The gateway under test, calling `mock` as its OpenAI upstream; stopped with `stack`. */
async function startChatGateway(
  stack: AsyncDisposableStack,
  { common, mock, adminToken, dir, cpus, name = "gateway", denoFlags }: ChatGatewaySetup,
): Promise<Server> {
  const gateway = await startGateway(
    {
      ...common,
      DATA_DIR: `${dir}/${name === "gateway" ? "data" : `data-${name}`}`,
      OPENAI_BASE_URL: `${mock.url}/v1`,
      OPENAI_API_KEY: "bench",
      ADMIN_TOKEN: adminToken,
    },
    { logDir: dir, cpus, name, denoFlags },
  );
  stack.defer(() => gateway.stop());
  return gateway;
}

/** Connections of the soak's steady load: a fixed number, so that its rate stays steady. */
const SOAK_CONNECTIONS = 8;

/**
 * The soak: the gateway alone under wrk's steady load for `seconds`, its RSS read when the load
 * starts, every 30 s and when it ends; prints the table and the "no growth" verdict. What it
 * starts is stopped with `stack`.
 */
async function soak(
  stack: AsyncDisposableStack,
  options: BenchOptions,
  seconds: number,
  pinning: Pinning,
  dir: string,
): Promise<number> {
  progress("starting the mock upstream and the gateway for the soak");
  const mock = await startMockUpstream(dir, pinning.loadCpus);
  stack.defer(() => mock.stop());
  const adminToken = crypto.randomUUID().replaceAll("-", "");
  const common = await commonEnv(stack, options.stack);
  const gateway = await startChatGateway(stack, {
    common,
    mock,
    adminToken,
    dir,
    cpus: pinning.targetCpus,
  });
  const key = await createApiKey(gateway.url, { adminToken, profile: "limited" });
  const request = chatRequest(key);
  const target = await servedTarget(gateway, CHAT_PATH, request, `${dir}/soak.lua`);
  const bench: Bench = {
    targets: new Map([["gateway", target]]),
    mocks: [mock],
    clockTicks: await clockTicksPerSecond(),
    adminToken,
    pinning,
  };
  await smokeTest(bench);
  progress(`soaking the gateway for ${seconds} s at ${SOAK_CONNECTIONS} connections`);
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const sample = async (): Promise<RssSample> => {
    const { rssKiB, peakKiB } = await readMemory(gateway.pid);
    return { seconds: elapsed(), rssKiB, peakKiB };
  };
  const samples = [await sample()];
  const load = checked(
    bench,
    "gateway",
    runWrk({
      url: target.url,
      script: target.script,
      connections: SOAK_CONNECTIONS,
      threads: 1,
      seconds,
      cpus: pinning.loadCpus,
    }),
  );
  for (let next = SOAK_SAMPLE_SECONDS; next < seconds; next += SOAK_SAMPLE_SECONDS) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - elapsed()) * 1000));
    const taken = await sample();
    samples.push(taken);
    progress(`soak: ${Math.round(taken.seconds)} s, RSS ${(taken.rssKiB / 1024).toFixed(1)} MiB`);
  }
  const result = await load;
  samples.push(await sample());
  await drainJobs(gateway, adminToken);
  const steady = {
    seconds,
    connections: SOAK_CONNECTIONS,
    requestsPerSecond: result.requestsPerSecond,
    stack: options.stack,
  };
  console.log(formatSoak(steady, pinning.description, samples, judgeSoak(samples)));
  return 0;
}

/** What the rounds measured: every target's rate, latency too but for the rate-only ones. */
interface Measured {
  samples: Map<Target, RoundSample[]>;
  /** The rate-only targets' 64-connection runs. */
  rates: Map<Target, RateSample[]>;
  streams: Map<Target, StreamSample[]>;
}

/**
 * Warms up each target, then runs interleaved rounds, rotating which target goes first: the
 * 64-connection runs, the 1-connection runs (but for the rate-only targets), then the streams of
 * direct and the gateway.
 */
async function measure(bench: Bench, options: BenchOptions): Promise<Measured> {
  const targets = [...bench.targets.keys()];
  for (const target of targets) {
    progress(`warming up ${target} (${options.warmupSeconds} s)`);
    // A cold gateway on a busy core may finish no request in a short warm-up; errors still fail.
    await checked(bench, target, wrkAt(bench, target, 64, options.warmupSeconds), 0);
  }
  const rateOnly = (target: Target) => RATE_ONLY_TARGETS.has(target);
  const samples = new Map(
    targets.filter((target) => !rateOnly(target)).map((target) => [target, [] as RoundSample[]]),
  );
  const rates = new Map(targets.filter(rateOnly).map((target) => [target, [] as RateSample[]]));
  const streams = new Map<Target, StreamSample[]>(STREAM_TARGETS.map((target) => [target, []]));
  for (let round = 0; round < options.rounds; round++) {
    const first = round % targets.length;
    const order = [...targets.slice(first), ...targets.slice(0, first)];
    const partial: Partial<Record<Target, RateSample>> = {};
    for (const target of order) {
      progress(`round ${round + 1}/${options.rounds}: ${target}, 64 connections`);
      partial[target] = await throughput(bench, target, options.durationSeconds);
      if (rateOnly(target)) rates.get(target)!.push(partial[target]);
    }
    for (const target of order.filter((target) => !rateOnly(target))) {
      progress(`round ${round + 1}/${options.rounds}: ${target}, 1 connection`);
      const result = await checked(bench, target, wrkAt(bench, target, 1, options.durationSeconds));
      samples.get(target)!.push({
        ...partial[target]!,
        p50Ms: result.latencyMs!.p50,
        p99Ms: result.latencyMs!.p99,
      });
    }
    const streamOrder = round % 2 === 0 ? STREAM_TARGETS : [...STREAM_TARGETS].reverse();
    for (const target of streamOrder) {
      progress(`round ${round + 1}/${options.rounds}: ${target}, streams over 1 connection`);
      const { url, request } = bench.targets.get(target)!;
      streams.get(target)!.push(
        await runStreamClient({
          url,
          request: streamRequest(request),
          count: STREAMS_PER_SECOND * options.durationSeconds,
          cpus: bench.pinning.loadCpus,
        }),
      );
    }
  }
  return { samples, rates, streams };
}

/**
 * One 64-connection run, with the CPU the gateway, the mocks and the whole machine used, and the
 * time the gateway then took to finish the jobs its requests queued.
 */
async function throughput(
  bench: Bench,
  target: Target,
  seconds: number,
): Promise<RateSample> {
  const { gateway, queuesJobs } = bench.targets.get(target)!;
  const sample = () =>
    Promise.all([
      readCpuTicks(gateway.pid),
      // A process's main thread has the process's id as its thread id.
      readCpuTicks(gateway.pid, gateway.pid),
      Promise.all(bench.mocks.map((mock) => readCpuTicks(mock.pid)))
        .then((ticks) => ticks.reduce((sum, each) => sum + each, 0)),
      readMachineTicks(),
    ]);
  const before = await sample();
  const started = performance.now();
  const result = await checked(bench, target, wrkAt(bench, target, 64, seconds));
  const drain = queuesJobs ? await drainJobs(gateway, bench.adminToken) : { queued: 0, seconds: 0 };
  const elapsed = (performance.now() - started) / 1000;
  const after = await sample();
  const cores = (ticks: number) => ticks / bench.clockTicks / elapsed;
  return {
    requestsPerSecond: result.requestsPerSecond * seconds / (seconds + drain.seconds),
    wrkRequestsPerSecond: result.requestsPerSecond,
    jobsQueuedAfter: drain.queued,
    drainSeconds: drain.seconds,
    gatewayCores: cores(after[0] - before[0]),
    gatewayMainCores: cores(after[1] - before[1]),
    mockCores: cores(after[2] - before[2]),
    machineCores: cores(after[3].busy - before[3].busy),
  };
}

const DRAIN_TIMEOUT_MS = 60_000;

/**
 * Waits until the gateway has no job waiting (`/internal/queues`), as a rate that leaves work
 * behind is not one it can keep; returns how many there were and the seconds they took.
 */
async function drainJobs(
  gateway: Server,
  adminToken: string,
): Promise<{ queued: number; seconds: number }> {
  const started = performance.now();
  let queued: number | undefined;
  while (performance.now() - started < DRAIN_TIMEOUT_MS) {
    const response = await fetch(`${gateway.url}/internal/queues`, {
      headers: { authorization: `Bearer ${adminToken}` },
      signal: AbortSignal.timeout(5000),
    });
    if (response.status !== 200) {
      throw new Error(
        `Cannot read the gateway's queues (${response.status}): ${await response.text()}`,
      );
    }
    const { depths } = await response.json() as { depths: Record<string, number> };
    const waiting = WAITING_QUEUES.reduce((sum, name) => sum + (depths[name] ?? 0), 0);
    queued ??= waiting;
    if (waiting === 0) return { queued, seconds: (performance.now() - started) / 1000 };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `Cannot trust the run as the gateway still had jobs queued ${DRAIN_TIMEOUT_MS / 1000} s ` +
      `after it; gateway output:\n${await gateway.logTail()}`,
  );
}

// Jobs still to run; retries and dead letters are failures, which the smoke test rules out.
const WAITING_QUEUES = ["default", "billing", "internal", "external", "spooled"];

function wrkAt(bench: Bench, target: Target, connections: number, seconds: number) {
  const { url, script } = bench.targets.get(target)!;
  return runWrk({
    url,
    script,
    connections,
    threads: connections === 1 ? 1 : 2,
    seconds,
    cpus: bench.pinning.loadCpus,
  });
}

/**
 * Fails loudly on any error response or socket error, or fewer answers than `minRequests`, with
 * the gateway's last log lines.
 */
async function checked(
  bench: Bench,
  target: Target,
  run: Promise<WrkResult>,
  minRequests = 1,
): Promise<WrkResult> {
  const result = await run;
  const { connect, read, write, timeout } = result.socketErrors;
  const errors = connect + read + write + timeout;
  if (result.non2xx === 0 && errors === 0 && result.requests >= minRequests) return result;
  throw new Error(
    `Cannot trust the ${target} run as it had ${result.non2xx} non-2xx responses and ${errors} ` +
      `socket errors (${JSON.stringify(result.socketErrors)}) in ${result.requests} requests; ` +
      `gateway output:\n${await bench.targets.get(target)!.gateway.logTail()}`,
  );
}

/** A fresh PostgreSQL database and a private Redis key prefix, for `--stack=shared`. */
async function sharedStack(stack: Stack): Promise<Record<string, string>> {
  const name = `gateway_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await psql(`CREATE DATABASE ${name}`);
  return {
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}`,
    REDIS_URL: "redis://127.0.0.1:6379",
    REDIS_KEY_PREFIX: `bench${crypto.randomUUID().slice(0, 8)}:`,
    QUOTA_HOLDS: stack === "shared-redis" ? "redis" : "store",
  };
}

async function dropDatabase(url: string): Promise<void> {
  await psql(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
}

/** One request each way before measuring, so a broken setup fails with a clear message. */
async function smokeTest(bench: Bench): Promise<void> {
  for (const [target, { url, request }] of bench.targets) {
    const response = await fetch(url, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(5000),
    });
    const body = await response.text();
    if (response.status !== 200 || !body.includes(request.answerHolds)) {
      throw new Error(
        `Cannot benchmark as the ${target} smoke request got ${response.status}: ${body}`,
      );
    }
  }
}

/** A target on `gateway`'s route `path`, with its wrk script written to `scriptPath`. */
async function servedTarget(
  gateway: Server,
  path: string,
  request: WrkRequest,
  scriptPath: string,
  queuesJobs = true,
): Promise<TargetSetup> {
  const script = await writeScript(scriptPath, request);
  return { url: `${gateway.url}${path}`, request, script, gateway, queuesJobs };
}

async function writeScript(path: string, request: WrkRequest): Promise<string> {
  // JSON string literals are valid Lua string literals for this plain ASCII text.
  const headers = Object.entries(request.headers).map(([name, value]) =>
    `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`
  );
  await Deno.writeTextFile(
    path,
    [`wrk.method = "POST"`, `wrk.body = ${JSON.stringify(request.body)}`, ...headers, ""].join(
      "\n",
    ),
  );
  return path;
}

async function clockTicksPerSecond(): Promise<number> {
  try {
    const output = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    const ticks = Number(new TextDecoder().decode(output.stdout).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

function progress(message: string): void {
  console.error(`bench: ${message}`);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main();
  } catch (error) {
    // Our own errors say what broke; anything else keeps its stack for whoever debugs it.
    const known = error instanceof WrkMissingError || /^Cannot /.test((error as Error).message);
    console.error(`bench: failed: ${known ? (error as Error).message : (error as Error).stack}`);
    code = 1;
  }
  Deno.exit(code);
}
