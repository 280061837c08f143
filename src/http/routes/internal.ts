import { Hono } from "hono";
import { z } from "zod";
import {
  allowlistEntryProblem,
  BUDGET_PERIODS,
  type BudgetPeriod,
  HttpError,
  MAX_ALLOWLIST_ENTRIES,
  MAX_LIMIT_PER_MINUTE,
  MAX_USD,
  MICROS_PER_USD,
  microsToUsd,
  notFound,
  usdToMicros,
} from "../../core/mod.ts";
import type { ApiKey, Tenant } from "../../store/mod.ts";
import type { JobQueue } from "../../queue/mod.ts";
import type { StatusService } from "../../status/mod.ts";
import type { BudgetStatus, TenantService } from "../../tenants/mod.ts";
import { readJsonBody } from "../body.ts";
import { timeParam, wholeNumberParam } from "../params.ts";
import type { GatewayEnv } from "../context.ts";
import { methodNotAllowed } from "../errors.ts";
import { requireAdmin } from "../middleware/admin.ts";
import { statusPageRoutes, statusRoutes } from "./status.ts";

/** What the internal API is built from. */
export interface InternalRoutesOptions {
  /** The admin bearer token; undefined turns the internal API off. */
  adminToken: string | undefined;
  tenants: TenantService;
  queue: JobQueue;
  status: StatusService;
  maxBodyBytes: number;
}

const usd = z.number().min(0).max(MAX_USD);

const name = z.string().trim().min(1).max(200);
// A limit is a positive whole number; null clears it so the gateway's default applies.
const limit = z.number().int().positive().max(MAX_LIMIT_PER_MINUTE).nullable();

// The public models a tenant's or key's requests may name; null allows every model.
const models = z.array(
  z.string().superRefine((entry, context) => {
    const problem = allowlistEntryProblem(entry);
    if (problem) context.addIssue({ code: "custom", message: `A model entry ${problem}` });
  }),
).max(MAX_ALLOWLIST_ENTRIES, {
  message: `A model list may have at most ${MAX_ALLOWLIST_ENTRIES} entries`,
}).nullable();

// How often a budget starts afresh; null for a budget over the owner's whole life.
const budgetPeriod = z.enum(BUDGET_PERIODS as [BudgetPeriod, ...BudgetPeriod[]], {
  errorMap: () => ({ message: `A budget period is one of ${BUDGET_PERIODS.join(", ")} or null` }),
}).nullable();

// A budget of its own, and how often it resets: both optional, null clears.
const budget = {
  budget_usd: usd.nullable().optional(),
  budget_period: budgetPeriod.optional(),
};

const createTenantSchema = z.object({
  name,
  balance_usd: usd.optional(),
  rpm_limit: limit.optional(),
  tpm_limit: limit.optional(),
  models: models.optional(),
  ...budget,
}).strict();

const updateTenantSchema = z.object({
  name: name.optional(),
  rpm_limit: limit.optional(),
  tpm_limit: limit.optional(),
  models: models.optional(),
  ...budget,
}).strict();

const createKeySchema = z.object({
  name: name.optional(),
  require_signature: z.boolean().optional(),
  rpm_limit: limit.optional(),
  tpm_limit: limit.optional(),
  models: models.optional(),
  ...budget,
}).strict();

const updateKeySchema = z.object({
  name: name.optional(),
  rpm_limit: limit.optional(),
  tpm_limit: limit.optional(),
  models: models.optional(),
  ...budget,
}).strict();

const creditsSchema = z.object({
  // At least one micro-dollar: a smaller credit would round to nothing.
  amount_usd: z.number().min(1 / MICROS_PER_USD).max(MAX_USD),
}).strict();

const PAGE_LIMIT = { name: "limit", min: 1, max: 1000, fallback: 50 };

/** The admin API under `/internal`, behind `ADMIN_TOKEN`. */
export function internalRoutes(options: InternalRoutesOptions): Hono<GatewayEnv> {
  const { adminToken, tenants, queue, status, maxBodyBytes } = options;
  const app = new Hono<GatewayEnv>();

  // Before the admin check: the page's shell carries no data, and a browser cannot send a bearer
  // header when it navigates; the page asks for the token and calls `/internal/status` with it.
  app.route("/ui", statusPageRoutes({ enabled: adminToken !== undefined }));
  app.use("*", requireAdmin(adminToken));
  app.route("/", statusRoutes({ status }));

  app.post("/tenants", async (c) => {
    const body = await readJsonBody(c.req.raw, {
      schema: createTenantSchema,
      maxBytes: maxBodyBytes,
    });
    const tenant = await tenants.createTenant(
      {
        name: body.name,
        balanceMicros: usdToMicros(body.balance_usd ?? 0),
        rpmLimit: body.rpm_limit,
        tpmLimit: body.tpm_limit,
        models: body.models,
        budgetMicros: optionalMicros(body.budget_usd),
        budgetPeriod: body.budget_period,
      },
      c.get("record").traceId,
    );
    return c.json(await tenantWithBudget(tenant), 201);
  });
  app.get("/tenants", async (c) => {
    const offset = wholeNumberParam(c.req.query("offset"), {
      name: "offset",
      min: 0,
      max: 1_000_000_000,
      fallback: 0,
    });
    const limit = wholeNumberParam(c.req.query("limit"), PAGE_LIMIT);
    const page = await tenants.listTenants({ offset, limit });
    return c.json({
      object: "list",
      data: await Promise.all(page.tenants.map(tenantWithBudget)),
      offset,
      limit,
      total: page.total,
    });
  });
  app.all("/tenants", methodNotAllowed(["GET", "POST"]));

  app.get(
    "/tenants/:id",
    async (c) => c.json(await tenantWithBudget(await tenants.getTenant(c.req.param("id")))),
  );
  app.patch("/tenants/:id", async (c) => {
    const body = await readJsonBody(c.req.raw, {
      schema: updateTenantSchema,
      maxBytes: maxBodyBytes,
    });
    const tenant = await tenants.updateTenant(
      c.req.param("id"),
      {
        name: body.name,
        rpmLimit: body.rpm_limit,
        tpmLimit: body.tpm_limit,
        models: body.models,
        budgetMicros: optionalMicros(body.budget_usd),
        budgetPeriod: body.budget_period,
      },
      c.get("record").traceId,
    );
    return c.json(await tenantWithBudget(tenant));
  });
  app.all("/tenants/:id", methodNotAllowed(["GET", "PATCH"]));

  app.post("/tenants/:id/keys", async (c) => {
    const body = await readJsonBody(c.req.raw, { schema: createKeySchema, maxBytes: maxBodyBytes });
    const created = await tenants.createApiKey(
      c.req.param("id"),
      {
        name: body.name ?? "default",
        rpmLimit: body.rpm_limit,
        tpmLimit: body.tpm_limit,
        budgetMicros: optionalMicros(body.budget_usd),
        budgetPeriod: body.budget_period,
        requireSignature: body.require_signature,
        models: body.models,
      },
      c.get("record").traceId,
    );
    const secrets = created.signingSecret === undefined
      ? { key: created.secret }
      : { key: created.secret, signing_secret: created.signingSecret };
    return c.json({ ...await keyWithBudget(created.key), ...secrets }, 201);
  });
  app.get("/tenants/:id/keys", async (c) => {
    const keys = await tenants.listApiKeys(c.req.param("id"));
    const budgets = await tenants.keyBudgets(c.req.param("id"), keys);
    return c.json({ object: "list", data: keys.map((key, i) => keyJson(key, budgets[i])) });
  });
  app.all("/tenants/:id/keys", methodNotAllowed(["GET", "POST"]));

  app.post("/tenants/:id/credits", async (c) => {
    const body = await readJsonBody(c.req.raw, { schema: creditsSchema, maxBytes: maxBodyBytes });
    const tenant = await tenants.addCredits(
      c.req.param("id"),
      usdToMicros(body.amount_usd),
      c.get("record").traceId,
    );
    return c.json(await tenantWithBudget(tenant));
  });
  app.all("/tenants/:id/credits", methodNotAllowed(["POST"]));

  app.patch("/keys/:id", async (c) => {
    const body = await readJsonBody(c.req.raw, { schema: updateKeySchema, maxBytes: maxBodyBytes });
    const key = await tenants.updateApiKey(
      c.req.param("id"),
      {
        name: body.name,
        rpmLimit: body.rpm_limit,
        tpmLimit: body.tpm_limit,
        budgetMicros: optionalMicros(body.budget_usd),
        budgetPeriod: body.budget_period,
        models: body.models,
      },
      c.get("record").traceId,
    );
    return c.json(await keyWithBudget(key));
  });
  app.delete("/keys/:id", async (c) => {
    const key = await tenants.revokeApiKey(c.req.param("id"), c.get("record").traceId);
    return c.json(await keyWithBudget(key));
  });
  app.all("/keys/:id", methodNotAllowed(["PATCH", "DELETE"]));

  app.get("/tenants/:id/usage", async (c) => {
    const range = timeRange(c.req.query("since"), c.req.query("until"));
    const totals = await tenants.usage(c.req.param("id"), range);
    return c.json({
      object: "usage",
      tenant_id: c.req.param("id"),
      since: range.since?.toISOString() ?? null,
      until: range.until?.toISOString() ?? null,
      requests: totals.requests,
      input_tokens: totals.inputTokens,
      output_tokens: totals.outputTokens,
      // Part of input_tokens: read from and written to prompt caches.
      cache_read_tokens: totals.cacheReadTokens,
      cache_write_tokens: totals.cacheWriteTokens,
      cost_usd: microsToUsd(totals.costMicros),
    });
  });
  app.all("/tenants/:id/usage", methodNotAllowed(["GET"]));

  app.get("/audit", async (c) => {
    const records = await tenants.listAudit({
      ...timeRange(c.req.query("since"), c.req.query("until")),
      tenantId: c.req.query("tenant_id"),
      actor: c.req.query("api_key_id"),
      traceId: c.req.query("trace_id"),
      limit: wholeNumberParam(c.req.query("limit"), { ...PAGE_LIMIT, fallback: 100 }),
    });
    return c.json({
      object: "list",
      data: records.map((record) => ({
        id: record.id,
        created_at: record.createdAt.toISOString(),
        actor: record.actor,
        action: record.action,
        tenant_id: record.tenantId,
        target: record.target,
        trace_id: record.traceId,
        details: record.details,
      })),
    });
  });
  app.all("/audit", methodNotAllowed(["GET"]));

  app.get("/queues", async (c) => {
    const [depths, workers] = await reachQueue(() =>
      Promise.all([queue.depths(), queue.workers()])
    );
    return c.json({
      object: "queues",
      depths,
      active: workers.reduce((sum, worker) => sum + worker.active, 0),
      workers: workers.map((worker) => ({
        id: worker.id,
        queue: worker.queue,
        alive: worker.alive,
        active: worker.active,
        last_seen: new Date(worker.lastSeenMs).toISOString(),
      })),
      tasks: queue.stats(),
    });
  });
  app.all("/queues", methodNotAllowed(["GET"]));

  app.get("/queues/dead", async (c) => {
    const offset = wholeNumberParam(c.req.query("offset"), {
      name: "offset",
      min: 0,
      max: 1_000_000,
      fallback: 0,
    });
    const limit = wholeNumberParam(c.req.query("limit"), PAGE_LIMIT);
    const jobs = await reachQueue(() => queue.deadLetters({ offset, limit }));
    return c.json({ object: "list", data: jobs });
  });
  app.all("/queues/dead", methodNotAllowed(["GET"]));

  app.post("/queues/dead/:id/redrive", async (c) => {
    if (!(await reachQueue(() => queue.redrive(c.req.param("id"))))) {
      throw notFound(`No dead-lettered job with id '${c.req.param("id")}'`, "job_not_found");
    }
    return c.json({ id: c.req.param("id"), redriven: true });
  });
  app.all("/queues/dead/:id/redrive", methodNotAllowed(["POST"]));

  async function tenantWithBudget(tenant: Tenant) {
    return tenantJson(tenant, await tenants.tenantBudget(tenant));
  }

  async function keyWithBudget(key: ApiKey) {
    const [budget] = await tenants.keyBudgets(key.tenantId, [key]);
    return keyJson(key, budget);
  }

  return app;
}

/**
 * Runs a call of the job queue; when its store (Redis) fails or does not answer in time, answers
 * 503 with `Retry-After`, as that is an outage to wait out, not a fault of the gateway's.
 */
async function reachQueue<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(503, "The job queue cannot be reached right now; retry later", {
      type: "service_unavailable",
      code: "queue_unavailable",
      headers: { "retry-after": "1" },
      cause: error,
    });
  }
}

/** A `since`/`until` pair of ISO times from the query; 400 when one is malformed. */
function timeRange(since: string | undefined, until: string | undefined) {
  return { since: timeParam(since, "since"), until: timeParam(until, "until") };
}

/** Dollars to micro-dollars, keeping absent (undefined) and cleared (null) apart. */
function optionalMicros(usd: number | null | undefined): number | null | undefined {
  return usd === undefined || usd === null ? usd : usdToMicros(usd);
}

// A budget's amount, period and the current period's spend, as tenants and keys show them.
function budgetJson(budgetMicros: number | null, status: BudgetStatus) {
  return {
    budget_usd: budgetMicros === null ? null : microsToUsd(budgetMicros),
    budget_period: status.period,
    period_spend_usd: microsToUsd(status.spentMicros),
    period_start: status.periodStart?.toISOString() ?? null,
    next_reset_at: status.nextResetAt?.toISOString() ?? null,
  };
}

function tenantJson(tenant: Tenant, budget: BudgetStatus) {
  return {
    id: tenant.id,
    object: "tenant",
    name: tenant.name,
    balance_usd: microsToUsd(tenant.balanceMicros),
    rpm_limit: tenant.rpmLimit,
    tpm_limit: tenant.tpmLimit,
    models: tenant.models,
    ...budgetJson(tenant.budgetMicros, budget),
    created_at: tenant.createdAt.toISOString(),
  };
}

function keyJson(key: ApiKey, budget: BudgetStatus) {
  return {
    id: key.id,
    object: "api_key",
    tenant_id: key.tenantId,
    name: key.name,
    prefix: key.prefix,
    rpm_limit: key.rpmLimit,
    tpm_limit: key.tpmLimit,
    models: key.models,
    ...budgetJson(key.budgetMicros, budget),
    require_signature: key.requireSignature,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}
