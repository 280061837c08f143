// The status page's routes on a real SQLite store and memory queue: who may see what, the JSON's
// shape, which tenants and keys count as near their quota, and the page's security headers.
import { Hono } from "hono";
import { assert, assertEquals, assertStringIncludes } from "../../../tests/assert.ts";
import { AuditWriter } from "../../audit/mod.ts";
import { BudgetCalendar } from "../../core/mod.ts";
import { ApiKeyAuthenticator } from "../../auth/mod.ts";
import { getLogger } from "../../observability/logging.ts";
import { RecentUpstreamFailures } from "../../observability/upstream_failures.ts";
import { MemoryJobQueue } from "../../queue/mod.ts";
import { type CircuitStatusSource, StatusService } from "../../status/mod.ts";
import { SqliteStore } from "../../store/mod.ts";
import { TenantService } from "../../tenants/mod.ts";
import type { GatewayEnv } from "../context.ts";
import { errorHandler } from "../errors.ts";
import { internalRoutes } from "./internal.ts";

const ADMIN_TOKEN = "status-admin-token-for-tests";
const logger = getLogger("test.status");

async function setup(
  options: { adminToken?: string; circuits?: CircuitStatusSource; calendar?: BudgetCalendar } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "gateway_status_test_" });
  const store = new SqliteStore({ dataDir: dir });
  await store.migrate();
  const queue = new MemoryJobQueue({ spoolDir: `${dir}/queue`, logger, maxAttempts: 1 });
  const failures = new RecentUpstreamFailures();
  const audit = new AuditWriter({ queue, store, logger });
  const authenticator = new ApiKeyAuthenticator({ store, cacheTtlMs: 1000 });
  const app = new Hono<GatewayEnv>();
  app.use("*", async (c, next) => {
    c.set("record", { traceId: "req-status-test", clientTraceId: false });
    await next();
  });
  app.route(
    "/internal",
    internalRoutes({
      adminToken: "adminToken" in options ? options.adminToken : ADMIN_TOKEN,
      tenants: new TenantService({ store, authenticator, audit, calendar: options.calendar }),
      queue,
      status: new StatusService({
        queue,
        store,
        failures,
        circuits: options.circuits,
        logger,
        calendar: options.calendar,
      }),
      maxBodyBytes: 10_000,
    }),
  );
  app.onError(errorHandler(logger));
  return {
    app,
    store,
    queue,
    failures,
    async [Symbol.asyncDispose]() {
      await queue.stop(1000);
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const admin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };

Deno.test("the status needs the admin token; the page's shell does not, and holds no data", async () => {
  await using gateway = await setup();
  await gateway.store.createTenant({ name: "Secret Corp", balanceMicros: 0 });
  const refused: Record<string, string>[] = [{}, { authorization: "Bearer wrong-token-wrong" }];
  for (const headers of refused) {
    for (const path of ["/internal/status", "/internal/tenants"]) {
      const response = await gateway.app.request(path, { headers });
      const body = await response.json();
      assertEquals(response.status, 401, path);
      assertEquals(body.error.code, "invalid_admin_token");
      assertEquals(JSON.stringify(body).includes("Secret Corp"), false);
    }
  }
  const page = await gateway.app.request("/internal/ui");
  const html = await page.text();
  assertEquals(page.status, 200);
  assertStringIncludes(html, '<script type="module" src="ui/app.js">');
  assertEquals(html.includes("Secret Corp"), false);
  assertEquals(/<script>|\son[a-z]+=/.test(html), false, "no inline script or handler");
  const csp = page.headers.get("content-security-policy") ?? "";
  assertStringIncludes(csp, "default-src 'self'");
  assertStringIncludes(csp, "frame-ancestors 'none'");
  assertEquals(csp.includes("unsafe-inline"), false);
  assertEquals(page.headers.get("x-frame-options"), "DENY");
  const script = await gateway.app.request("/internal/ui/app.js");
  assertEquals(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  const source = await script.text();
  assertStringIncludes(source, "sessionStorage");
  assertEquals(source.includes("innerHTML"), false);
  const style = await gateway.app.request("/internal/ui/style.css");
  assertEquals(style.headers.get("content-type"), "text/css; charset=utf-8");
  await style.text();
});

Deno.test("without an admin token configured the page and the status do not exist", async () => {
  await using gateway = await setup({ adminToken: undefined });
  for (const path of ["/internal/ui", "/internal/ui/app.js", "/internal/status"]) {
    const response = await gateway.app.request(path, admin);
    assertEquals(response.status, 404, path);
    assertEquals((await response.json()).error.code, "internal_api_off");
  }
});

Deno.test("the status shows queues, dead letters, failures and who is near the quota", async () => {
  await using gateway = await setup();
  const { store, queue, failures } = gateway;
  queue.register("doomed", () => Promise.reject(new Error("no such tenant")));
  queue.start({ default: 1 });
  const jobId = await queue.enqueue("default", "doomed", { tenantId: "tnt_gone" });
  const deadline = Date.now() + 5000;
  while ((await queue.deadLetters({ offset: 0, limit: 1 })).length === 0) {
    assert(Date.now() < deadline, "the job was dead-lettered in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  failures.record({
    provider: "openai",
    deployment: "openai-eu",
    model: "gpt-4o",
    error_class: "server_error",
    upstream_status: 500,
    latency_ms: 42,
    detail: "fake failure 500",
  });
  const poor = await store.createTenant({ name: "Poor", balanceMicros: 500_000 });
  const rich = await store.createTenant({ name: "Rich", balanceMicros: 100_000_000 });
  const key = await store.createApiKey({
    tenantId: rich.id,
    name: "ci",
    keyHash: "hash-ci",
    prefix: "sk-gw-ci",
    budgetMicros: 1_000_000,
  });
  await store.settle({
    traceId: "req-spend",
    tenantId: rich.id,
    apiKeyId: key.id,
    model: "m",
    provider: "p",
    inputTokens: 1,
    outputTokens: 1,
    costMicros: 900_000,
    estimated: false,
  });

  const response = await gateway.app.request("/internal/status", admin);
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("cache-control"), "no-store");
  const status = await response.json();
  assertEquals(status.object, "status");
  assertEquals(status.queues.depths.dead, 1);
  assertEquals(status.queues.depths.default, 0);
  assertEquals(status.queues.workers.map((w: { id: string }) => w.id), ["memory:default:0"]);
  assertEquals(status.queues.tasks.doomed, { sent: 1, succeeded: 0, failed: 1, retried: 0 });
  assertEquals(status.dead_letters.total, 1);
  assertEquals(status.dead_letters.data, [{
    id: jobId,
    queue: "default",
    task: "doomed",
    attempts: 1,
    enqueued_at: status.dead_letters.data[0].enqueued_at,
    last_error: "no such tenant",
  }]);
  assertEquals(status.upstream_failures.length, 1);
  assertEquals(status.upstream_failures[0].model, "gpt-4o");
  assertEquals(status.upstream_failures[0].deployment, "openai-eu");
  assertEquals(status.upstream_failures[0].upstream_status, 500);
  assertEquals(status.upstream_failures[0].error_class, "server_error");
  assertEquals(status.upstream_failures[0].latency_ms, 42);
  assertEquals(status.circuits, null);
  assertEquals(status.near_quota.low_balance_usd, 1);
  assertEquals(status.near_quota.key_budget_ratio, 0.8);
  assertEquals(status.near_quota.tenants, [{
    id: poor.id,
    name: "Poor",
    balance_usd: 0.5,
    reserved_usd: 0,
    available_usd: 0.5,
  }]);
  assertEquals(status.near_quota.keys, [{
    id: key.id,
    tenant_id: rich.id,
    tenant_name: "Rich",
    name: "ci",
    prefix: "sk-gw-ci",
    budget_usd: 1,
    spent_usd: 0.9,
    reserved_usd: 0,
    used_ratio: 0.9,
  }]);
  assertEquals(status.unavailable, {});

  const stricter = await gateway.app.request(
    "/internal/status?low_balance_usd=0.25&key_budget_ratio=0.95",
    admin,
  );
  const strict = await stricter.json();
  assertEquals([strict.near_quota.tenants, strict.near_quota.keys], [[], []]);
  const bad = await gateway.app.request("/internal/status?key_budget_ratio=2", admin);
  assertEquals(bad.status, 400);
  assertEquals((await bad.json()).error.param, "key_budget_ratio");
});

Deno.test("circuits come from their source, and a part that fails blanks only itself", async () => {
  await using gateway = await setup({
    circuits: {
      circuits: () => [
        { provider: "openai", model: "gpt-4o", deployment: "openai-eu", state: "open" },
        { provider: "openai", model: "gpt-4o", deployment: "openai-us", state: "half_open" },
      ],
    },
  });
  const status = await (await gateway.app.request("/internal/status", admin)).json();
  assertEquals(
    status.circuits.map((c: { deployment: string; state: string }) => [c.deployment, c.state]),
    [["openai-eu", "open"], ["openai-us", "half_open"]],
  );

  await using broken = await setup({
    circuits: {
      circuits: () => {
        throw new Error("router gone");
      },
    },
  });
  await broken.store.close();
  const degraded = await (await broken.app.request("/internal/status", admin)).json();
  assertEquals(degraded.circuits, null);
  assertEquals(degraded.near_quota, null);
  assertEquals(degraded.budgets, null);
  assertEquals(Object.keys(degraded.unavailable).sort(), ["budgets", "circuits", "near_quota"]);
  assertEquals(typeof degraded.queues.depths.default, "number");
});

Deno.test("tenants are listed page by page with their total", async () => {
  await using gateway = await setup();
  for (const name of ["a", "b", "c"]) {
    await gateway.store.createTenant({ name, balanceMicros: 1_000_000 });
  }
  const response = await gateway.app.request("/internal/tenants?offset=1&limit=1", admin);
  const page = await response.json();
  assertEquals(response.headers.get("cache-control"), "no-store");
  assertEquals([page.offset, page.limit, page.total], [1, 1, 3]);
  assertEquals(page.data.map((tenant: { name: string }) => tenant.name), ["b"]);
  const bad = await gateway.app.request("/internal/tenants?limit=0", admin);
  assertEquals(bad.status, 400);
  await bad.text();
});

Deno.test("the budgets section shows the most used budgets in their period and when they reset", async () => {
  // Wednesday 2 December 2026, 15:00 in Berlin (UTC+1).
  const calendar = new BudgetCalendar({
    timeZone: "Europe/Berlin",
    now: () => Date.UTC(2026, 11, 2, 14),
  });
  await using gateway = await setup({ calendar });
  const tenant = await gateway.store.createTenant({
    name: "acme",
    balanceMicros: 10_000_000,
    budgetMicros: 4_000_000,
    budgetPeriod: "monthly",
  });
  const key = await gateway.store.createApiKey({
    tenantId: tenant.id,
    name: "daily",
    keyHash: "hash-daily",
    prefix: "sk-d",
    budgetMicros: 1_000_000,
    budgetPeriod: "weekly",
  });
  await gateway.store.settle({
    traceId: "spent-once",
    tenantId: tenant.id,
    apiKeyId: key.id,
    model: "gpt-4o-mini",
    provider: "openai",
    inputTokens: 1,
    outputTokens: 1,
    costMicros: 950_000,
    estimated: false,
  }, calendar.starts());
  const status = await (await gateway.app.request("/internal/status", admin)).json();
  assertEquals(status.budgets, [
    {
      tenant_id: tenant.id,
      api_key_id: key.id,
      budget_usd: 1,
      budget_period: "weekly",
      period_spend_usd: 0.95,
      reserved_usd: 0,
      used_ratio: 0.95,
      period_start: "2026-11-29T23:00:00.000Z",
      next_reset_at: "2026-12-06T23:00:00.000Z",
    },
    {
      tenant_id: tenant.id,
      api_key_id: null,
      budget_usd: 4,
      budget_period: "monthly",
      period_spend_usd: 0.95,
      reserved_usd: 0,
      used_ratio: 0.238,
      period_start: "2026-11-30T23:00:00.000Z",
      next_reset_at: "2026-12-31T23:00:00.000Z",
    },
  ]);
  const keys = await (await gateway.app.request(`/internal/tenants/${tenant.id}/keys`, admin))
    .json();
  assertEquals(keys.data[0].period_spend_usd, 0.95);
  assertEquals(keys.data[0].next_reset_at, "2026-12-06T23:00:00.000Z");
});
