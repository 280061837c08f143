/**
 * End-to-end tests of routing and resilience: the real gateway with `MODEL_ROUTES` pointing at
 * several fake upstreams that fail in the ways real ones do (errors, hangs, rate limits with
 * `Retry-After`, streams broken off, garbage), driven over HTTP.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type FakeUpstream, startFakeUpstream } from "./fake_upstream.ts";
import {
  createTenantWithKey,
  type GatewayProcess,
  startGateway,
  waitFor,
} from "./gateway_process.ts";

const ADMIN_TOKEN = "e2e-routing-admin-token-0123456789";
const HELLO = [{ role: "user", content: "Hello" }];

interface DeploymentJson {
  name?: string;
  provider: string;
  model: string;
  base_url?: string;
  api_key_env?: string;
  weight?: number;
  priority?: number;
  timeout_ms?: number;
  first_byte_timeout_ms?: number;
  idle_timeout_ms?: number;
}

/** A deployment of the `openai` provider on `upstream`, whose upstream model is `model`. */
function on(upstream: FakeUpstream, model: string, extra: Partial<DeploymentJson> = {}) {
  return { provider: "openai", model, base_url: upstream.url, ...extra };
}

/** The default name of the deployment `on(upstream, model)`: provider, model and host. */
function nameOf(upstream: FakeUpstream, model: string): string {
  return `openai:${model}:${new URL(upstream.url).host}`;
}

async function gateway(
  routes: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<{ gw: GatewayProcess; key: string }> {
  const gw = await startGateway({
    env: { ADMIN_TOKEN, MODEL_ROUTES: JSON.stringify(routes), ...env },
  });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 100 });
  return { gw, key };
}

/** Runs the gateway, which is expected to refuse to start, until it exits. */
async function runUntilExit(
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-P=gateway", "--config", config, main],
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      PORT: "0",
      ...env,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Bounded: a gateway that started after all is killed, and its code fails the test.
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const output = await child.output();
  clearTimeout(timer);
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

function chat(gw: GatewayProcess, key: string, body: Record<string, unknown>, traceId?: string) {
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    "content-type": "application/json",
  };
  if (traceId) headers["x-trace-id"] = traceId;
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify({ messages: HELLO, ...body }),
  });
}

/** The model that answered a successful JSON chat completion (the fake echoes it). */
async function answeredBy(response: Response): Promise<string> {
  const text = await response.text();
  assertEquals(response.status, 200, text);
  return JSON.parse(text).model;
}

function chatCalls(upstream: FakeUpstream): number {
  return upstream.received.filter((r) => r.path === "/v1/chat/completions").length;
}

/** The value of one sample of `/metrics`, 0 when absent. */
async function metric(gw: GatewayProcess, series: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** The samples of `name` on `/metrics` with every label of `labels`: value by `deployment`. */
async function byDeployment(
  gw: GatewayProcess,
  name: string,
  labels: Record<string, string>,
): Promise<Record<string, number>> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const found: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const sample = line.match(/^(\w+)\{(.*)\} (\S+)$/);
    if (sample?.[1] !== name) continue;
    const seen = Object.fromEntries(
      [...sample[2].matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]),
    );
    if (!Object.entries(labels).every(([key, value]) => seen[key] === value)) continue;
    assert(!(seen.deployment in found), `one ${name} series per deployment: ${line}`);
    found[seen.deployment] = Number(sample[3]);
  }
  return found;
}

Deno.test("a failing deployment falls over to the next one: 500, hang, 429 with Retry-After, garbage, refused key", async () => {
  await using primary = startFakeUpstream();
  await using backup = startFakeUpstream();
  const { gw, key } = await gateway({
    "gpt-4o": {
      strategy: "priority",
      deployments: [
        on(primary, "primary", { priority: 0, first_byte_timeout_ms: 300 }),
        on(backup, "backup", { priority: 1, api_key_env: "BACKUP_KEY" }),
      ],
    },
  }, { BACKUP_KEY: "sk-backup-key-for-e2e-routing", CIRCUIT_MIN_CALLS: "1000" });
  await using _ = gw;

  assertEquals(await answeredBy(await chat(gw, key, { model: "gpt-4o" })), "primary");
  const faults = [
    { status: 500 },
    { delayMs: 10_000 },
    { status: 429, headers: { "retry-after": "30" } },
    { rawBody: "<html>not json" },
    { status: 401 },
  ];
  for (const [index, fault] of faults.entries()) {
    primary.behaviour = fault;
    const started = performance.now();
    const model = await answeredBy(await chat(gw, key, { model: "gpt-4o" }, `failover-${index}`));
    assertEquals(model, "backup", `fault ${JSON.stringify(fault)}`);
    assert(performance.now() - started < 5_000, "a hang is cut by the first-byte timeout");
  }
  assertEquals(chatCalls(primary), 1 + faults.length, "each fault tried the primary once");
  assertEquals(
    backup.received.at(-1)?.headers.authorization,
    "Bearer sk-backup-key-for-e2e-routing",
    "each deployment gets its own key",
  );
  assertEquals(
    await metric(
      gw,
      'gateway_upstream_retries_total{model="gpt-4o",kind="fallback",error="timeout"}',
    ),
    1,
  );
  assertEquals(
    await metric(
      gw,
      `gateway_upstream_failures_total{provider="openai",model="primary",deployment="${
        nameOf(primary, "primary")
      }",error="invalid_response"}`,
    ),
    1,
  );
  const warned = await gw.waitForRecord((r) =>
    r.message === "upstream_attempt_failed" && r.trace_id === "failover-0"
  );
  assertEquals(warned.level, "WARNING");
  assertEquals(warned.next, "fallback");

  const models = await (await fetch(`${gw.url}/v1/models`, {
    headers: { authorization: `Bearer ${key}` },
  })).json();
  assertEquals(models.data.map((m: { id: string }) => m.id), ["gpt-4o"]);
});

Deno.test("a deployment alone is retried after its Retry-After, and nothing is retried after a stream's first byte", async () => {
  await using upstream = startFakeUpstream({ status: 429, headers: { "retry-after": "1" } });
  await using other = startFakeUpstream();
  const { gw, key } = await gateway({
    solo: [on(upstream, "solo-upstream")],
    pair: {
      strategy: "priority",
      deployments: [
        on(upstream, "first", { priority: 0, idle_timeout_ms: 300 }),
        on(other, "second", { priority: 1 }),
      ],
    },
  }, { CIRCUIT_MIN_CALLS: "1000" });
  await using _ = gw;

  setTimeout(() => upstream.behaviour = {}, 200);
  const started = performance.now();
  assertEquals(await answeredBy(await chat(gw, key, { model: "solo" })), "solo-upstream");
  assert(performance.now() - started >= 900, "the retry waited for Retry-After: 1");
  assertEquals(
    await metric(
      gw,
      'gateway_upstream_retries_total{model="solo",kind="retry",error="rate_limited"}',
    ),
    1,
  );

  const before = chatCalls(upstream);
  for (const fault of [{ breakAfterEvents: 2 }, { chunkDelayMs: 2_000 }]) {
    upstream.behaviour = fault;
    const response = await chat(gw, key, { model: "pair", stream: true });
    assertEquals(response.status, 200);
    const text = await response.text();
    assertStringIncludes(text, '"role":"assistant"', "the stream had started");
    assertStringIncludes(text, '"error"', `the break is told in-band (${JSON.stringify(fault)})`);
  }
  assertEquals(chatCalls(upstream) - before, 2);
  assertEquals(chatCalls(other), 0, "nothing was retried once the client had a byte");
  assertEquals(
    await metric(
      gw,
      `gateway_upstream_failures_total{provider="openai",model="first",deployment="${
        nameOf(upstream, "first")
      }",error="timeout"}`,
    ),
    1,
    "the stalled stream is a timeout",
  );
  assert(
    await metric(
      gw,
      `gateway_upstream_ttft_seconds_count{provider="openai",model="first",deployment="${
        nameOf(upstream, "first")
      }"}`,
    ) >= 2,
  );
});

Deno.test("circuits open on failures, fail fast with 503 when all are open, probe half-open and close again", async () => {
  await using a = startFakeUpstream({ status: 500 });
  await using b = startFakeUpstream({ status: 503 });
  const { gw, key } = await gateway({
    "gpt-4o": [on(a, "model-a"), on(b, "model-b")],
  }, {
    CIRCUIT_MIN_CALLS: "3",
    CIRCUIT_FAILURE_RATIO: "0.5",
    CIRCUIT_COOLDOWN_MS: "1500",
    UPSTREAM_MAX_ATTEMPTS: "2",
    UPSTREAM_RETRY_BACKOFF_MS: "1",
  });
  await using _ = gw;
  const circuit = (upstream: FakeUpstream, model: string) =>
    `gateway_circuit_state{provider="openai",model="${model}",deployment="${
      nameOf(upstream, model)
    }"}`;
  assertEquals(await metric(gw, circuit(a, "model-a")), 0);

  for (let i = 0; i < 6; i++) {
    const response = await chat(gw, key, { model: "gpt-4o" });
    if (response.status === 503) {
      await response.body?.cancel();
      break;
    }
    await response.body?.cancel();
    assertEquals(response.status, 502);
  }
  for (const [upstream, model] of [[a, "model-a"], [b, "model-b"]] as const) {
    const opened = await gw.waitForRecord((r) => r.message === "circuit_open" && r.model === model);
    assertEquals(opened.level, "WARNING");
    assertEquals(opened.deployment, nameOf(upstream, model));
    assertEquals(await metric(gw, circuit(upstream, model)), 2);
  }

  const calls = chatCalls(a) + chatCalls(b);
  const started = performance.now();
  const refused = await chat(gw, key, { model: "gpt-4o" });
  const body = await refused.json();
  assertEquals(refused.status, 503);
  assertEquals(body.error.code, "circuit_open");
  assert(performance.now() - started < 1_000, "refused at once");
  assertEquals(chatCalls(a) + chatCalls(b), calls, "no upstream was called");
  assert(
    await metric(
      gw,
      `gateway_upstream_failures_total{provider="openai",model="model-a",deployment="${
        nameOf(a, "model-a")
      }",error="circuit_open"}`,
    ) >= 1,
  );

  // Cooled down, with no call yet: the gauge already says the next call will be a probe.
  await waitFor(
    async () =>
      await metric(gw, circuit(a, "model-a")) === 1 ||
      undefined,
    { what: "model-a half-open on the gauge after its cooldown", timeoutMs: 10_000 },
  );
  a.behaviour = {};
  b.behaviour = {};
  await waitFor(async () => {
    const response = await chat(gw, key, { model: "gpt-4o" });
    await response.body?.cancel();
    return response.status === 200 ? true : undefined;
  }, { what: "served after the cooldown", timeoutMs: 10_000 });
  const halfOpen = await gw.waitForRecord((r) => r.message === "circuit_half_open");
  assertEquals(halfOpen.level, "INFO");
  const closed = await gw.waitForRecord((r) => r.message === "circuit_closed");
  assertEquals(closed.level, "INFO");
  const model = closed.model as string;
  assertEquals(await metric(gw, circuit(model === "model-a" ? a : b, model)), 0);
});

Deno.test("two deployments of one model are told apart: the failing one's circuit shows open, the other's closed, each with its own latency, failures and time to first token", async () => {
  await using eu = startFakeUpstream();
  await using us = startFakeUpstream();
  const { gw, key } = await gateway({
    "gpt-4o": {
      strategy: "priority",
      deployments: [
        on(eu, "gpt-4o", { name: "openai-eu", priority: 0 }),
        on(us, "gpt-4o", { name: "openai-us", priority: 1 }),
      ],
    },
  }, {
    ADMIN_TOKEN,
    // The first stream's success and the two failures after it: 2 of 3 calls open the circuit.
    CIRCUIT_MIN_CALLS: "3",
    CIRCUIT_FAILURE_RATIO: "0.5",
    CIRCUIT_COOLDOWN_MS: "3600000",
    UPSTREAM_MAX_ATTEMPTS: "2",
  });
  await using _ = gw;
  const labels = { provider: "openai", model: "gpt-4o" };
  assertEquals(await byDeployment(gw, "gateway_circuit_state", labels), {
    "openai-eu": 0,
    "openai-us": 0,
  });

  const stream = async (traceId: string) => {
    const response = await chat(gw, key, { model: "gpt-4o", stream: true }, traceId);
    assertEquals(response.status, 200);
    await response.text();
  };
  await stream("two-deployments-eu");
  eu.behaviour = { status: 500 };
  for (let i = 0; i < 2; i++) {
    assertEquals(await answeredBy(await chat(gw, key, { model: "gpt-4o" })), "gpt-4o");
  }
  const opened = await gw.waitForRecord((r) => r.message === "circuit_open");
  assertEquals([opened.deployment, opened.model], ["openai-eu", "gpt-4o"]);
  await stream("two-deployments-us");
  assertEquals([chatCalls(eu), chatCalls(us)], [3, 3], "once open, eu is not called");
  for (const deployment of ["eu", "us"]) {
    const completed = await gw.waitForRecord((r) =>
      r.message === "request_completed" && r.trace_id === `two-deployments-${deployment}`
    );
    assertEquals(completed.deployment, `openai-${deployment}`, "the line says who served it");
  }

  assertEquals(await byDeployment(gw, "gateway_circuit_state", labels), {
    "openai-eu": 2,
    "openai-us": 0,
  });
  const calls = "gateway_upstream_latency_seconds_count";
  assertEquals(await byDeployment(gw, calls, { ...labels, success: "true" }), {
    "openai-eu": 1,
    "openai-us": 3,
  });
  assertEquals(await byDeployment(gw, calls, { ...labels, success: "false" }), {
    "openai-eu": 2,
  });
  assertEquals(
    await byDeployment(gw, "gateway_upstream_failures_total", { ...labels, error: "server_error" }),
    { "openai-eu": 2 },
  );
  assertEquals(await byDeployment(gw, "gateway_upstream_ttft_seconds_count", labels), {
    "openai-eu": 1,
    "openai-us": 1,
  });
  const failed = await gw.waitForRecord((r) => r.message === "upstream_attempt_failed");
  assertEquals([failed.deployment, failed.next], ["openai-eu", "fallback"]);

  const status = await (await fetch(`${gw.url}/internal/status`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  })).json();
  assertEquals(
    status.circuits.map((c: { deployment: string; state: string }) => [c.deployment, c.state]),
    [["openai-eu", "open"], ["openai-us", "closed"]],
  );
});

Deno.test("weighted deployments share requests by weight, and least_latency prefers the faster one", async () => {
  await using heavy = startFakeUpstream();
  await using light = startFakeUpstream();
  await using slow = startFakeUpstream({ delayMs: 150 });
  await using fast = startFakeUpstream();
  const { gw, key } = await gateway({
    split: [on(heavy, "heavy", { weight: 3 }), on(light, "light", { weight: 1 })],
    quick: { strategy: "least_latency", deployments: [on(slow, "slow"), on(fast, "fast")] },
  });
  await using _ = gw;

  const seen: Record<string, number> = {};
  for (let i = 0; i < 80; i++) {
    const model = await answeredBy(await chat(gw, key, { model: "split" }));
    seen[model] = (seen[model] ?? 0) + 1;
  }
  // 3:1 of 80 is 60; a loose check (the picker's own test checks the split tightly).
  assert(seen.heavy >= 45 && seen.heavy <= 75, `split ${JSON.stringify(seen)}`);
  assertEquals(
    await metric(gw, 'gateway_overhead_seconds_count{path="/v1/chat/completions"}'),
    80,
    "every answered chat request has its overhead observed",
  );
  assertEquals(
    await metric(gw, 'gateway_tokens_total{provider="openai",model="heavy",direction="output"}'),
    seen.heavy * 7,
    "the fake upstream reports 7 completion tokens per answer",
  );

  const quick: Record<string, number> = {};
  for (let i = 0; i < 30; i++) {
    const model = await answeredBy(await chat(gw, key, { model: "quick" }));
    quick[model] = (quick[model] ?? 0) + 1;
  }
  assert((quick.fast ?? 0) >= 22, `least_latency picks ${JSON.stringify(quick)}`);
});

Deno.test("a wrong MODEL_ROUTES stops the start naming the variable and what is wrong", async () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ MODEL_ROUTES: "{nope" }, "MODEL_ROUTES: accepts JSON"],
    [
      { MODEL_ROUTES: JSON.stringify({ m: { strategy: "fastest", deployments: [] } }) },
      "'m.strategy'",
    ],
    [
      { MODEL_ROUTES: JSON.stringify({ m: [{ provider: "openai", model: "x", weight: "2" }] }) },
      "'m.deployments.0.weight'",
    ],
    [
      {
        MODEL_ROUTES: JSON.stringify({
          m: [{ provider: "openai", model: "x", api_key_env: "ROUTING_TEST_UNSET_KEY" }],
        }),
      },
      "names ROUTING_TEST_UNSET_KEY, which is not set",
    ],
    [
      { MODEL_ROUTES: JSON.stringify({ m: [{ provider: "nobody", model: "x" }] }) },
      "'m.deployments.0' names the provider 'nobody'",
    ],
    [
      { MODEL_ROUTES: JSON.stringify({ m: [{ provider: "openai", model: "x" }] }) },
      "needs a base_url (or OPENAI_BASE_URL)",
    ],
    [
      {
        MODEL_ROUTES: JSON.stringify({
          m: [{ name: "eu", provider: "openai", model: "x" }],
          n: [{ name: "eu", provider: "openai", model: "y" }],
        }),
      },
      "MODEL_ROUTES: repeats the name 'eu' of 'm.deployments.0' (names must be unique) at 'n.deployments.0.name'",
    ],
    [
      {
        MODEL_ROUTES: JSON.stringify({ m: [{ name: "eu west", provider: "openai", model: "x" }] }),
      },
      "'m.deployments.0.name'",
    ],
  ];
  const dataDir = await Deno.makeTempDir({ prefix: "gateway-routes-" });
  try {
    for (const [env, expected] of cases) {
      const { code, stderr } = await runUntilExit({ ...env, DATA_DIR: dataDir });
      assertEquals(code, 2, stderr);
      assertStringIncludes(stderr, expected);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
