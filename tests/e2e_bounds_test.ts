/**
 * End-to-end tests of the bounds on every numeric input: the real gateway, sent each field's
 * out-of-range, fractional, negative, string and huge values on every route, answers each with
 * OpenAI's 400 naming the field, never a 5xx, stays healthy, and reserves and bills nothing for
 * them; a worst case too costly to count is the client's 400 too. On SQLite, and the admin API
 * and the money path also on PostgreSQL with Redis.
 */
import { assertEquals } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import {
  createTenantWithKey,
  type GatewayProcess,
  startGateway,
  waitFor,
} from "./gateway_process.ts";
import {
  ADMIN_FIELDS,
  ADMIN_QUERIES,
  CHAT_FIELDS,
  COMPLETION_FIELDS,
  EMBEDDING_FIELDS,
  type FieldCase,
} from "./numeric_cases.ts";

const ADMIN_TOKEN = "e2e-bounds-admin-token-0123456789";
// One micro-dollar a token in and out: a tenant's $1 is a million tokens of worst case.
const PRICES = JSON.stringify({
  "mock-gpt": { input_per_1m_tokens: 1, output_per_1m_tokens: 1 },
  "dear": { input_per_1m_tokens: 1_000_000, output_per_1m_tokens: 1_000_000 },
  "free": { input_per_1m_tokens: 0, output_per_1m_tokens: 0 },
});
const MOCK_MODELS = "mock-gpt,dear,free";

/** What a table of requests found: every answer that was not the expected 400, to show at once. */
class Findings {
  readonly wrong: string[] = [];

  /** Checks `response` is OpenAI's 400 naming `param` (or a key inside it). */
  async refused(response: Response, param: string, label: string): Promise<void> {
    const text = await response.text();
    let error: Record<string, unknown> | undefined;
    try {
      error = JSON.parse(text).error;
    } catch {
      // Reported below as not OpenAI's body.
    }
    const named = typeof error?.param === "string" &&
      (error.param === param || error.param.startsWith(`${param}.`));
    if (
      response.status !== 400 || error?.type !== "invalid_request_error" || !named ||
      typeof error?.message !== "string" || error?.code === undefined
    ) {
      this.wrong.push(`${label}: ${response.status} ${text.slice(0, 200)}`);
    }
  }

  /** Checks `response` succeeded. */
  async taken(response: Response, label: string): Promise<void> {
    const text = await response.text();
    if (!response.ok) this.wrong.push(`${label}: ${response.status} ${text.slice(0, 200)}`);
  }

  done(): void {
    assertEquals(this.wrong, [], `${this.wrong.length} answers were not as expected`);
  }
}

function send(gw: GatewayProcess, method: string, path: string, body?: unknown, key?: string) {
  const authorization = `Bearer ${key ?? ADMIN_TOKEN}`;
  return fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization, "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function json(gw: GatewayProcess, path: string) {
  const response = await send(gw, "GET", path);
  assertEquals(response.status, 200, path);
  return await response.json();
}

/** Sends every bad value of every field of `cases` to one route on top of `base`. */
async function sendBadValues(
  findings: Findings,
  route: { gw: GatewayProcess; method: string; path: string; key?: string },
  base: Record<string, unknown>,
  cases: FieldCase[],
): Promise<void> {
  const { gw, method, path, key } = route;
  for (const { field, bad } of cases) {
    for (const value of bad) {
      const body = { ...base, [field]: value };
      const label = `${method} ${path} ${field}=${JSON.stringify(value)}`;
      await findings.refused(await send(gw, method, path, body, key), field, label);
    }
  }
}

/** The gateway is healthy and logged no unhandled error. */
async function assertHealthy(gw: GatewayProcess): Promise<void> {
  const health = await fetch(`${gw.url}/health`);
  assertEquals(health.status, 200);
  await health.body?.cancel();
  const unhandled = gw.records().filter((record) => record.message === "unhandled_error");
  assertEquals(unhandled.length, 0, "no request ended in an unhandled error");
}

/**
 * Nothing is billed, and nothing is held: a request whose worst case takes almost the whole $1
 * balance is still let through, which any reservation left behind would have prevented.
 */
async function assertNothingReservedOrBilled(
  gw: GatewayProcess,
  tenant: { tenantId: string; key: string },
): Promise<void> {
  const usage = await json(gw, `/internal/tenants/${tenant.tenantId}/usage`);
  assertEquals(usage.requests, 0, "nothing was billed");
  assertEquals((await json(gw, `/internal/tenants/${tenant.tenantId}`)).balance_usd, 1);
  const whole = await send(gw, "POST", "/v1/chat/completions", {
    model: "mock-gpt",
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 999_000,
  }, tenant.key);
  assertEquals(whole.status, 200, await whole.clone().text());
  await whole.body?.cancel();
}

Deno.test("every numeric field of the external API answers a bad value with a 400 naming it, and holds and bills nothing", async () => {
  await using gw = await startGateway({
    env: { ADMIN_TOKEN, MODEL_PRICES: PRICES, MOCK_MODELS },
  });
  const tenant = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 1 });
  const findings = new Findings();
  const messages = [{ role: "user", content: "hi" }];
  const route = (path: string) => ({ gw, method: "POST", path, key: tenant.key });
  const chat = { model: "mock-gpt", messages };
  await sendBadValues(findings, route("/v1/chat/completions"), chat, CHAT_FIELDS);
  const prompt = { model: "mock-gpt", prompt: "hi" };
  await sendBadValues(findings, route("/v1/completions"), prompt, COMPLETION_FIELDS);
  const input = { model: "mock-gpt", input: "hi" };
  await sendBadValues(findings, route("/v1/embeddings"), input, EMBEDDING_FIELDS);
  // Past what a double holds: JSON.parse makes it Infinity, which no field takes.
  for (const field of ["max_tokens", "n", "temperature", "seed", "presence_penalty"]) {
    const raw = `{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"${field}":1e400}`;
    const response = await send(gw, "POST", "/v1/chat/completions", raw, tenant.key);
    await findings.refused(response, field, `chat ${field}=1e400`);
  }
  findings.done();
  await assertHealthy(gw);
  await assertNothingReservedOrBilled(gw, tenant);
});

Deno.test("OpenAI's parameters at the ends of their ranges, and unknown ones, are still served", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN, MODEL_PRICES: PRICES, MOCK_MODELS } });
  const { key } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 100 });
  const findings = new Findings();
  const sampling = {
    temperature: 2,
    top_p: 0,
    presence_penalty: -2,
    frequency_penalty: 2,
    logit_bias: { "50256": -100, "0": 100 },
    seed: Number.MAX_SAFE_INTEGER,
    top_k: 1e20,
  };
  await findings.taken(
    await send(gw, "POST", "/v1/chat/completions", {
      model: "mock-gpt",
      messages: [{ role: "user", content: "hi" }],
      max_completion_tokens: 4096,
      n: 128,
      logprobs: true,
      top_logprobs: 20,
      ...sampling,
    }, key),
    "chat at the ends of its ranges",
  );
  await findings.taken(
    await send(gw, "POST", "/v1/completions", {
      model: "mock-gpt",
      prompt: [[0, 50256]],
      max_tokens: 0,
      echo: true,
      best_of: 20,
      logprobs: 5,
      ...sampling,
    }, key),
    "completions at the ends of their ranges",
  );
  findings.done();
});

Deno.test("a worst case too costly to count is a 400 naming max_tokens, n or prompt, with nothing held", async () => {
  await using gw = await startGateway({
    env: { ADMIN_TOKEN, MODEL_PRICES: PRICES, MOCK_MODELS, DEFAULT_MAX_TOKENS: "10000000" },
  });
  const tenant = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 1 });
  const findings = new Findings();
  const messages = [{ role: "user", content: "hi" }];
  const prompts = Array.from({ length: 2048 }, () => "hi");
  // $1 a token: 2 billion tokens five times over is past 2^53 micro-dollars.
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["/v1/chat/completions", { messages, max_tokens: 2_000_000_000, n: 5 }, "max_tokens"],
    [
      "/v1/chat/completions",
      { messages, max_completion_tokens: 2_000_000_000, n: 5 },
      "max_completion_tokens",
    ],
    ["/v1/completions", { prompt: "hi", max_tokens: 2_147_483_647, n: 128 }, "max_tokens"],
    ["/v1/completions", { prompt: prompts, n: 128 }, "n"],
    ["/v1/completions", { prompt: prompts, best_of: 20 }, "best_of"],
    ["/v1/completions", { prompt: prompts }, "prompt"],
  ];
  for (const [path, fields, param] of cases) {
    const response = await send(gw, "POST", path, { model: "dear", ...fields }, tenant.key);
    const label = `${path} ${JSON.stringify(fields).slice(0, 80)}`;
    if (response.headers.get("content-type")?.includes("json")) {
      const body = await response.clone().json();
      if (body.error?.code !== "cost_out_of_range") findings.wrong.push(`${label}: code`);
    }
    await findings.refused(response, param, label);
  }
  findings.done();
  await assertHealthy(gw);
  await assertNothingReservedOrBilled(gw, tenant);
});

/** Runs the admin API's whole table against `gw`: bodies and query parameters, bad and good. */
async function assertAdminBounds(gw: GatewayProcess): Promise<void> {
  const findings = new Findings();
  const { tenantId, keyId } = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 1 });
  const routes: Array<[string, string, Record<string, unknown>, FieldCase[]]> = [
    ["POST", "/internal/tenants", { name: "t" }, ADMIN_FIELDS.createTenant],
    ["PATCH", `/internal/tenants/${tenantId}`, {}, ADMIN_FIELDS.updateTenant],
    ["POST", `/internal/tenants/${tenantId}/keys`, {}, ADMIN_FIELDS.createKey],
    ["PATCH", `/internal/keys/${keyId}`, {}, ADMIN_FIELDS.updateKey],
    ["POST", `/internal/tenants/${tenantId}/credits`, {}, ADMIN_FIELDS.credits],
  ];
  for (const [method, path, base, cases] of routes) {
    await sendBadValues(findings, { gw, method, path }, base, cases);
    for (const { field, good } of cases) {
      for (const value of good) {
        const label = `${method} ${path} ${field}=${JSON.stringify(value)}`;
        await findings.taken(await send(gw, method, path, { ...base, [field]: value }), label);
      }
    }
  }
  for (const [template, cases] of Object.entries(ADMIN_QUERIES)) {
    const path = template.replace("{id}", tenantId);
    for (const { param, bad, good } of cases) {
      for (const text of bad) {
        const url = `${path}?${new URLSearchParams({ [param]: text })}`;
        await findings.refused(await send(gw, "GET", url), param, `GET ${url}`);
      }
      for (const text of good) {
        const url = `${path}?${new URLSearchParams({ [param]: text })}`;
        await findings.taken(await send(gw, "GET", url), `GET ${url}`);
      }
    }
  }
  // A credit may not take a balance past the largest one, however it is split.
  const rich = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 1_000_000_000 });
  const over = await send(gw, "POST", `/internal/tenants/${rich.tenantId}/credits`, {
    amount_usd: 0.000001,
  });
  assertEquals((await over.clone().json()).error.code, "balance_limit_exceeded");
  await findings.refused(over, "amount_usd", "a credit past the largest balance");
  findings.done();
  assertEquals((await json(gw, `/internal/tenants/${rich.tenantId}`)).balance_usd, 1_000_000_000);
  await assertHealthy(gw);
}

Deno.test("the admin API answers bad amounts, limits, pages, times and thresholds with a 400 naming them (SQLite)", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN } });
  await assertAdminBounds(gw);
});

Deno.test("the admin API answers bad amounts, limits, pages, times and thresholds with a 400 naming them (PostgreSQL and Redis)", async () => {
  await using db = await createDatabase();
  await using gw = await startGateway({
    env: { ADMIN_TOKEN, ...redisEnv(), DATABASE_URL: db.url },
  });
  await assertAdminBounds(gw);
});

function redisEnv() {
  return {
    REDIS_URL: "redis://127.0.0.1:6379",
    REDIS_KEY_PREFIX: `test${crypto.randomUUID().slice(0, 8)}:`,
    REDIS_TIMEOUT_MS: "5000",
  };
}

for (const holds of ["store", "redis"]) {
  Deno.test(`on PostgreSQL with Redis (reservations held in ${holds}), huge worst cases are refused or limited, never a 5xx`, async () => {
    await using db = await createDatabase();
    await using gw = await startGateway({
      env: {
        ADMIN_TOKEN,
        ...redisEnv(),
        DATABASE_URL: db.url,
        QUOTA_HOLDS: holds,
        MODEL_PRICES: PRICES,
        MOCK_MODELS,
      },
    });
    await waitFor(async () => (await fetch(`${gw.url}/ready`)).ok || undefined, {
      what: "ready with Redis",
    });
    const tenant = await createTenantWithKey(gw, ADMIN_TOKEN, { balance_usd: 1 });
    const findings = new Findings();
    const messages = [{ role: "user", content: "hi" }];
    const dear = { model: "dear", messages, max_tokens: 2_000_000_000, n: 5 };
    const costly = await send(gw, "POST", "/v1/chat/completions", dear, tenant.key);
    await findings.refused(costly, "max_tokens", "a worst case past 2^53 micro-dollars");
    await sendBadValues(
      findings,
      {
        gw,
        method: "POST",
        path: "/v1/chat/completions",
        key: tenant.key,
      },
      { model: "mock-gpt", messages },
      CHAT_FIELDS.filter((c) => c.field === "max_tokens"),
    );
    findings.done();
    await assertNothingReservedOrBilled(gw, tenant);

    // Free, so the money lets it through; 1.8e14 tokens of worst case at one token a minute would
    // keep the limit closed for longer than Redis can set a key to expire in, were it counted so.
    const free = await createTenantWithKey(gw, ADMIN_TOKEN, { name: "free", balance_usd: 1 });
    await send(gw, "PATCH", `/internal/keys/${free.keyId}`, { tpm_limit: 1 });
    const heavy = {
      model: "free",
      prompt: Array.from({ length: 2048 }, () => "hi"),
      max_tokens: 2_147_483_647,
      n: 40,
    };
    const first = await send(gw, "POST", "/v1/completions", heavy, free.key);
    assertEquals(first.status, 200, await first.clone().text());
    await first.body?.cancel();
    const second = await send(gw, "POST", "/v1/completions", heavy, free.key);
    assertEquals(second.status, 429, await second.clone().text());
    assertEquals((await second.json()).error.code, "rate_limit_tokens");
    const degraded = gw.records().filter((r) => r.message === "rate_limiter_degraded");
    assertEquals(degraded.length, 0, "Redis counted the heavy request without failing");
    await assertHealthy(gw);
  });
}
