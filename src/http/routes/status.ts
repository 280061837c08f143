import { Hono } from "hono";
import { MAX_USD, microsToUsd, notFound, usdToMicros } from "../../core/mod.ts";
import type { Job } from "../../queue/mod.ts";
import type { BudgetReading, StatusService, StatusSnapshot } from "../../status/mod.ts";
import type { ApiKey, Tenant } from "../../store/mod.ts";
import type { GatewayEnv } from "../context.ts";
import { methodNotAllowed } from "../errors.ts";
import { decimalParam } from "../params.ts";
import { STATUS_PAGE_HTML, STATUS_PAGE_SCRIPT, STATUS_PAGE_STYLE } from "../ui/mod.ts";

/** Tenants whose available balance is below this are shown, unless the query says otherwise. */
export const DEFAULT_LOW_BALANCE_USD = 1;
/** Keys that used this share of their budget are shown, unless the query says otherwise. */
export const DEFAULT_KEY_BUDGET_RATIO = 0.8;

// The page runs only its own script and style, fetches only from this origin, is never framed,
// and its form can post nowhere: without the script, the token never leaves the browser.
const PAGE_HEADERS = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; " +
    "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/**
 * The status page's static files at `/internal/ui`: a shell without data, its script and its
 * style. `enabled` false (no admin token configured) answers 404 like the rest of `/internal`.
 */
export function statusPageRoutes(options: { enabled: boolean }): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const file = (body: string, contentType: string) => () => {
    if (!options.enabled) {
      throw notFound("The internal API is off: set ADMIN_TOKEN to turn it on", "internal_api_off");
    }
    return new Response(body, { headers: { ...PAGE_HEADERS, "content-type": contentType } });
  };
  app.get("/", file(STATUS_PAGE_HTML, "text/html; charset=utf-8"));
  app.get("/app.js", file(STATUS_PAGE_SCRIPT, "text/javascript; charset=utf-8"));
  app.get("/style.css", file(STATUS_PAGE_STYLE, "text/css; charset=utf-8"));
  for (const path of ["/", "/app.js", "/style.css"]) app.all(path, methodNotAllowed(["GET"]));
  return app;
}

/** `GET /status`, the page's data; mounted behind the admin check. */
export function statusRoutes(options: { status: StatusService }): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.get("/status", async (c) => {
    const lowBalanceUsd = decimalParam(c.req.query("low_balance_usd"), {
      name: "low_balance_usd",
      fallback: DEFAULT_LOW_BALANCE_USD,
      min: 0,
      max: MAX_USD,
    });
    const keyBudgetRatio = decimalParam(c.req.query("key_budget_ratio"), {
      name: "key_budget_ratio",
      fallback: DEFAULT_KEY_BUDGET_RATIO,
      min: 0.01,
      max: 1,
    });
    const snapshot = await options.status.snapshot({
      lowBalanceMicros: usdToMicros(lowBalanceUsd),
      keyBudgetRatio,
    });
    return c.json(statusJson(snapshot, { lowBalanceUsd, keyBudgetRatio }));
  });
  app.all("/status", methodNotAllowed(["GET"]));
  return app;
}

/** The snapshot as the API shows it: snake_case, ISO times, dollars. */
function statusJson(
  snapshot: StatusSnapshot,
  thresholds: { lowBalanceUsd: number; keyBudgetRatio: number },
) {
  const { queues, deadLetters, nearQuota } = snapshot;
  return {
    object: "status",
    generated_at: snapshot.generatedAt.toISOString(),
    queues: queues && {
      depths: queues.depths,
      workers: queues.workers.map((worker) => ({
        id: worker.id,
        queue: worker.queue,
        alive: worker.alive,
        active: worker.active,
        last_seen: new Date(worker.lastSeenMs).toISOString(),
      })),
      tasks: queues.tasks,
    },
    dead_letters: deadLetters && {
      total: queues?.depths.dead ?? null,
      data: deadLetters.map(deadLetterJson),
    },
    upstream_failures: snapshot.upstreamFailures.map((failure) => ({
      at: new Date(failure.atMs).toISOString(),
      trace_id: failure.traceId,
      provider: failure.provider,
      deployment: failure.deployment,
      model: failure.model,
      upstream_model: failure.upstreamModel,
      error_class: failure.errorClass,
      upstream_status: failure.upstreamStatus,
      latency_ms: failure.latencyMs,
      detail: failure.detail,
    })),
    circuits: snapshot.circuits,
    near_quota: nearQuota && {
      low_balance_usd: thresholds.lowBalanceUsd,
      key_budget_ratio: thresholds.keyBudgetRatio,
      tenants: nearQuota.tenants.map(lowTenantJson),
      keys: nearQuota.keys.map((key) => ({
        ...keyNearBudgetJson(key),
        tenant_name: key.tenantName,
      })),
    },
    budgets: snapshot.budgets?.map(budgetJson) ?? null,
    unavailable: snapshot.unavailable,
  };
}

function budgetJson(budget: BudgetReading) {
  return {
    tenant_id: budget.tenantId,
    api_key_id: budget.apiKeyId,
    budget_usd: microsToUsd(budget.budgetMicros),
    budget_period: budget.budgetPeriod,
    period_spend_usd: microsToUsd(budget.spentMicros),
    reserved_usd: microsToUsd(budget.reservedMicros),
    used_ratio: Math.round(budget.usedRatio * 1000) / 1000,
    period_start: budget.periodStart?.toISOString() ?? null,
    next_reset_at: budget.nextResetAt?.toISOString() ?? null,
  };
}

// The payload stays out: it holds a request's billing data, and the dead-letter API has it.
function deadLetterJson(job: Job) {
  return {
    id: job.id,
    queue: job.queue,
    task: job.task,
    attempts: job.attempts,
    enqueued_at: new Date(job.enqueuedAt).toISOString(),
    last_error: job.lastError ?? null,
  };
}

function lowTenantJson(tenant: Tenant) {
  return {
    id: tenant.id,
    name: tenant.name,
    balance_usd: microsToUsd(tenant.balanceMicros),
    reserved_usd: microsToUsd(tenant.reservedMicros),
    available_usd: microsToUsd(tenant.balanceMicros - tenant.reservedMicros),
  };
}

function keyNearBudgetJson(key: ApiKey) {
  const budget = key.budgetMicros ?? 0;
  const used = key.spentMicros + key.reservedMicros;
  return {
    id: key.id,
    tenant_id: key.tenantId,
    name: key.name,
    prefix: key.prefix,
    budget_usd: microsToUsd(budget),
    spent_usd: microsToUsd(key.spentMicros),
    reserved_usd: microsToUsd(key.reservedMicros),
    used_ratio: budget === 0 ? 1 : Math.round((used / budget) * 1000) / 1000,
  };
}
