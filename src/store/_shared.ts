import { BUDGET_PERIODS, periodsHolding, type PeriodStarts } from "../core/budget_calendar.ts";
import { randomId } from "../core/ids.ts";
import { allowlistProblem } from "../core/model_allowlist.ts";
import type {
  ApiKey,
  ApiKeyPatch,
  ApiKeySettings,
  BudgetSettings,
  LedgerEntry,
  LimitSettings,
  NearQuotaFilter,
  Page,
  ReservationInput,
  StoredResponse,
  TenantPatch,
} from "./types.ts";

/** How many audit records `listAudit` returns when the filter gives no limit. */
export const DEFAULT_AUDIT_LIMIT = 100;

/** A new tenant id. */
export function newTenantId(): string {
  return randomId("tnt");
}

/** A new API key id. */
export function newApiKeyId(): string {
  return randomId("key");
}

/** Throws a RangeError unless `value` is a safe integer, naming the parameter for the caller. */
export function assertSafeInteger(value: number, what: string, name: string): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be a safe integer: current value is ${value}`,
    );
  }
}

/** Throws a RangeError unless the page's offset is zero or more and its limit positive. */
export function assertPage(page: Page): void {
  assertAtLeast(page.offset, 0, "list tenants", "offset");
  assertAtLeast(page.limit, 1, "list tenants", "limit");
}

/** Throws a RangeError unless the filter's threshold, ratio and limit make sense. */
export function assertNearQuotaFilter(filter: NearQuotaFilter): void {
  const what = "list tenants near their quota";
  assertSafeInteger(filter.belowMicros, what, "belowMicros");
  assertAtLeast(filter.limit, 1, what, "limit");
  const ratio = filter.keyBudgetRatio;
  if (!(Number.isFinite(ratio) && ratio > 0 && ratio <= 1)) {
    throw new RangeError(
      `Cannot ${what} as 'keyBudgetRatio' must be above 0 and at most 1: current value is ${ratio}`,
    );
  }
}

/** How many ledger rows `listLedger` returns when the filter gives no limit. */
export const DEFAULT_LEDGER_LIMIT = 100;

/** The audit limit to apply: the filter's, validated, or the default. */
export function auditLimit(limit: number | undefined): number {
  return listLimit(limit, DEFAULT_AUDIT_LIMIT, "audit records");
}

/** The ledger limit to apply: the filter's, validated, or the default. */
export function ledgerLimit(limit: number | undefined): number {
  return listLimit(limit, DEFAULT_LEDGER_LIMIT, "ledger rows");
}

function listLimit(limit: number | undefined, fallback: number, what: string): number {
  if (limit === undefined) return fallback;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(
      `Cannot list ${what} as 'limit' must be a positive integer: current value is ${limit}`,
    );
  }
  return limit;
}

/** Throws a RangeError unless `value` is a safe integer of at least `min`. */
function assertAtLeast(value: number, min: number, what: string, name: string): void {
  if (!Number.isSafeInteger(value) || value < min) {
    const kind = min === 0 ? "a non-negative" : "a positive";
    throw new RangeError(
      `Cannot ${what} as '${name}' must be ${kind} safe integer: current value is ${value}`,
    );
  }
}

function assertTraceId(traceId: unknown, what: string): void {
  if (typeof traceId !== "string" || traceId.length === 0) {
    throw new TypeError(
      `Cannot ${what} as 'traceId' must be a non-empty string: current value is ${traceId}`,
    );
  }
}

/** Validates a reservation: positive amount, non-negative margin, a valid expiry. */
export function assertReservation(input: ReservationInput): void {
  const what = "reserve";
  assertTraceId(input.traceId, what);
  assertAtLeast(input.amountMicros, 1, what, "amountMicros");
  assertAtLeast(input.marginMicros, 0, what, "marginMicros");
  if (!(input.expiresAt instanceof Date) || Number.isNaN(input.expiresAt.getTime())) {
    throw new TypeError(
      `Cannot ${what} as 'expiresAt' must be a valid Date: current value is ${input.expiresAt}`,
    );
  }
}

/**
 * Validates a ledger entry: a trace id, non-negative safe integer tokens and cost, the cache
 * tokens within the input's.
 */
export function assertLedgerEntry(entry: LedgerEntry): void {
  const what = "settle";
  assertTraceId(entry.traceId, what);
  assertAtLeast(entry.inputTokens, 0, what, "inputTokens");
  assertAtLeast(entry.outputTokens, 0, what, "outputTokens");
  assertAtLeast(entry.cacheReadTokens ?? 0, 0, what, "cacheReadTokens");
  assertAtLeast(entry.cacheWriteTokens ?? 0, 0, what, "cacheWriteTokens");
  const cached = (entry.cacheReadTokens ?? 0) + (entry.cacheWriteTokens ?? 0);
  if (cached > entry.inputTokens) {
    throw new RangeError(
      `Cannot ${what} as the cache tokens are part of 'inputTokens': ${cached} exceed ${entry.inputTokens}`,
    );
  }
  assertAtLeast(entry.costMicros, 0, what, "costMicros");
  if (typeof entry.estimated !== "boolean") {
    throw new TypeError(
      `Cannot ${what} as 'estimated' must be a boolean: current value is ${entry.estimated}`,
    );
  }
}

/** The error for a settle or reserve whose key is not the tenant's or does not exist. */
export function keyMismatch(what: string, apiKeyId: string, tenantId: string): Error {
  return new Error(
    `Cannot ${what} as API key '${apiKeyId}' does not exist or does not belong to tenant '${tenantId}'`,
  );
}

/** The select list of `ledger` both stores read. */
export const LEDGER_COLUMNS = "id, trace_id, tenant_id, api_key_id, model, provider, " +
  "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_micros, estimated, " +
  "created_at";

/** The columns of `tenants` both stores read, in one order. */
export const TENANT_FIELDS = [
  "id",
  "name",
  "balance_micros",
  "reserved_micros",
  "rpm_limit",
  "tpm_limit",
  "models",
  "budget_micros",
  "budget_period",
  "created_at",
] as const;

/** The columns of `api_keys` both stores read, in one order; never the key hash. */
export const API_KEY_FIELDS = [
  "id",
  "tenant_id",
  "name",
  "prefix",
  "rpm_limit",
  "tpm_limit",
  "models",
  "budget_micros",
  "budget_period",
  "spent_micros",
  "reserved_micros",
  "require_signature",
  "signing_secret_sealed",
  "created_at",
  "revoked_at",
] as const;

/** {@linkcode TENANT_FIELDS} as a select list. */
export const TENANT_COLUMNS = TENANT_FIELDS.join(", ");

/** {@linkcode API_KEY_FIELDS} as a select list. */
export const API_KEY_COLUMNS = API_KEY_FIELDS.join(", ");

/** The columns of a key near its budget: the key's under `k`, and its tenant's name. */
export const KEY_NEAR_BUDGET_COLUMNS = API_KEY_FIELDS.map((field) => `k.${field}`).join(", ") +
  ", t.name AS tenant_name";

/** The budget periods given, checked, or those holding now in UTC. */
export function periodsOrNow(periods: PeriodStarts | undefined): PeriodStarts {
  if (periods === undefined) return periodsHolding(Date.now(), "UTC");
  for (const period of BUDGET_PERIODS) {
    assertAtLeast(periods[period], 0, "count budget periods", period);
  }
  return periods;
}

/**
 * What the tenant `t` (scope `tenant`) or the key `k` (scope `key`) spent in its budget's current
 * period, as an SQL expression both dialects read. The starts are checked safe integers, spliced
 * in as literals so that one text serves both stores.
 */
export function periodSpentSql(scope: "tenant" | "key", periods: PeriodStarts): string {
  const alias = scope === "tenant" ? "t" : "k";
  const period = `${alias}.budget_period`;
  const spent = `coalesce((SELECT s.spent_micros FROM budget_spend s
    WHERE s.scope = '${scope}' AND s.owner_id = ${alias}.id
      AND s.period = coalesce(${period}, 'lifetime')
      AND s.period_start = CASE ${period} WHEN 'daily' THEN ${periods.daily}
        WHEN 'weekly' THEN ${periods.weekly} WHEN 'monthly' THEN ${periods.monthly}
        ELSE 0 END), 0)`;
  // A key's lifetime spend is its own column, kept since before budgets had periods.
  return scope === "tenant"
    ? spent
    : `CASE WHEN k.budget_period IS NULL THEN k.spent_micros ELSE ${spent} END`;
}

/** What {@linkcode Store.fundsOf} reads, from `tenants t` joined with `api_keys k`. */
export function accountFundsColumns(periods: PeriodStarts): string {
  return `t.balance_micros, t.reserved_micros, t.budget_micros AS tenant_budget_micros,
    t.budget_period AS tenant_budget_period,
    ${periodSpentSql("tenant", periods)} AS tenant_spent_micros, k.budget_micros, k.budget_period,
    ${periodSpentSql("key", periods)} AS spent_micros, k.reserved_micros AS key_reserved_micros`;
}

/** A row of {@linkcode accountFundsColumns}, its integers as `N` (strings from PostgreSQL). */
export interface AccountFundsRow<N> {
  balance_micros: N;
  reserved_micros: N;
  tenant_budget_micros: N | null;
  tenant_budget_period: string | null;
  tenant_spent_micros: N;
  budget_micros: N | null;
  budget_period: string | null;
  spent_micros: N;
  key_reserved_micros: N;
}

/**
 * Every budget of a tenant and of a key not revoked, with its current period's spend, the most
 * used first: both stores append their own LIMIT.
 */
export function budgetUsageQuery(periods: PeriodStarts): string {
  return `SELECT tenant_id, api_key_id, budget_micros, budget_period, spent_micros, reserved_micros
    FROM (
      SELECT t.id AS tenant_id, CAST(NULL AS TEXT) AS api_key_id, t.budget_micros,
        t.budget_period, ${periodSpentSql("tenant", periods)} AS spent_micros, t.reserved_micros
      FROM tenants t WHERE t.budget_micros IS NOT NULL
      UNION ALL
      SELECT k.tenant_id, k.id, k.budget_micros, k.budget_period,
        ${periodSpentSql("key", periods)}, k.reserved_micros
      FROM api_keys k WHERE k.budget_micros IS NOT NULL AND k.revoked_at IS NULL
    ) AS budgets
    ORDER BY CASE WHEN budget_micros = 0 THEN 1 ELSE 0 END DESC,
      spent_micros * 1.0 / (CASE WHEN budget_micros = 0 THEN 1 ELSE budget_micros END) DESC,
      tenant_id, coalesce(api_key_id, '')`;
}

/** A row of {@linkcode budgetUsageQuery}, its integers as `N`. */
export interface BudgetUsageRow<N> {
  tenant_id: string;
  api_key_id: string | null;
  budget_micros: N;
  budget_period: string | null;
  spent_micros: N;
  reserved_micros: N;
}

/** Throws a RangeError unless `value` is null, undefined or a budget period. */
export function assertBudgetPeriod(value: unknown, what: string): void {
  if (value == null) return;
  if (!(BUDGET_PERIODS as readonly unknown[]).includes(value)) {
    throw new RangeError(
      `Cannot ${what} as 'budgetPeriod' must be one of ${
        BUDGET_PERIODS.join(", ")
      } or null: current value is ${value}`,
    );
  }
}

/** A budget period as its column holds it, checked: a schema out of step is an error. */
export function budgetPeriodOf(text: string | null): BudgetSettings["budgetPeriod"] {
  assertBudgetPeriod(text, "read 'budget_period'");
  return text as BudgetSettings["budgetPeriod"];
}

/** A new tenant's budget, validated, with null for each part not given. */
export function tenantBudget(input: Partial<BudgetSettings>): BudgetSettings {
  const what = "create a tenant";
  assertBudget(input.budgetMicros, what, "budgetMicros");
  assertBudgetPeriod(input.budgetPeriod, what);
  return { budgetMicros: input.budgetMicros ?? null, budgetPeriod: input.budgetPeriod ?? null };
}

/** The select list of each table a store updates by id. */
export const COLUMNS = { tenants: TENANT_COLUMNS, api_keys: API_KEY_COLUMNS } as const;

/**
 * The select list of `api_keys k JOIN tenants t`: the key's columns under their own names, the
 * tenant's as `t_<column>`, since both tables have `id`, `name` and the limits.
 */
export const CREDENTIAL_COLUMNS = [
  ...API_KEY_FIELDS.map((field) => `k.${field}`),
  ...TENANT_FIELDS.map((field) => `t.${field} AS t_${field}`),
].join(", ");

/** A row of {@linkcode CREDENTIAL_COLUMNS}: a key row `K` and a tenant row `T` prefixed `t_`. */
export type CredentialRow<K, T> = K & { [C in keyof T & string as `t_${C}`]: T[C] };

/** The tenant row inside a credential row, under its own column names. */
export function tenantPart<K, T>(row: CredentialRow<K, T>): T {
  const columns = row as Record<string, unknown>;
  return Object.fromEntries(TENANT_FIELDS.map((field) => [field, columns[`t_${field}`]])) as T;
}

/** Throws a RangeError unless `value` is null, undefined or a positive safe integer. */
export function assertLimit(value: number | null | undefined, what: string, name: string): void {
  if (value == null) return;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be a positive safe integer or null: current value is ${value}`,
    );
  }
}

/** Throws a RangeError unless `value` is null, undefined or a non-negative safe integer. */
export function assertBudget(value: number | null | undefined, what: string, name: string): void {
  if (value == null) return;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be a non-negative safe integer or null: current value is ${value}`,
    );
  }
}

/**
 * A model allowlist as its column holds it, validated: JSON text, or null for every model
 * (also when not given). Both stores keep it as text so that one encoding serves both.
 */
export function modelsColumn(
  models: readonly string[] | null | undefined,
  what: string,
): string | null {
  if (models === undefined || models === null) return null;
  const problem = allowlistProblem(models);
  if (problem) throw new TypeError(`Cannot ${what} as 'models' ${problem}`);
  return JSON.stringify(models);
}

/** The model allowlist a `models` column holds; throws when the stored text is not one. */
export function modelsOf(text: string | null): readonly string[] | null {
  if (text === null) return null;
  let models: unknown;
  try {
    models = JSON.parse(text);
  } catch {
    throw new TypeError("Cannot read 'models' as it is not JSON");
  }
  // The schema checks the column holds a JSON array; its entries are checked here.
  const problem = models === null ? "must not be JSON null" : allowlistProblem(models);
  if (problem) throw new TypeError(`Cannot read 'models' as it ${problem}`);
  return models as readonly string[];
}

/** A new tenant's limits, validated, with null for each one not given. */
export function tenantLimits(input: Partial<LimitSettings>): LimitSettings {
  const what = "create a tenant";
  assertLimit(input.rpmLimit, what, "rpmLimit");
  assertLimit(input.tpmLimit, what, "tpmLimit");
  return { rpmLimit: input.rpmLimit ?? null, tpmLimit: input.tpmLimit ?? null };
}

/** A new key's settings with every field present, as its row stores them. */
export type ResolvedApiKeySettings =
  & Pick<
    ApiKey,
    | "rpmLimit"
    | "tpmLimit"
    | "budgetMicros"
    | "budgetPeriod"
    | "requireSignature"
    | "signingSecretSealed"
  >
  & {
    /** The `models` column: see {@linkcode modelsColumn}. */
    models: string | null;
  };

/** A new key's settings, validated: null limits and budget and no signature unless given. */
export function apiKeySettings(input: ApiKeySettings): ResolvedApiKeySettings {
  const what = "create an API key";
  assertLimit(input.rpmLimit, what, "rpmLimit");
  assertLimit(input.tpmLimit, what, "tpmLimit");
  assertBudget(input.budgetMicros, what, "budgetMicros");
  assertBudgetPeriod(input.budgetPeriod, what);
  const models = modelsColumn(input.models, what);
  const requireSignature = input.requireSignature ?? false;
  if (typeof requireSignature !== "boolean") {
    throw new TypeError(
      `Cannot ${what} as 'requireSignature' must be a boolean: current value is ${requireSignature}`,
    );
  }
  const signingSecretSealed = input.signingSecretSealed ?? null;
  // The schema refuses this too; checking here gives the caller a message instead of a constraint.
  if (requireSignature && signingSecretSealed === null) {
    throw new TypeError(
      `Cannot ${what} as 'signingSecretSealed' must be set when 'requireSignature' is true: current value is null`,
    );
  }
  return {
    rpmLimit: input.rpmLimit ?? null,
    tpmLimit: input.tpmLimit ?? null,
    budgetMicros: input.budgetMicros ?? null,
    budgetPeriod: input.budgetPeriod ?? null,
    requireSignature,
    signingSecretSealed,
    models,
  };
}

/** One column an UPDATE sets and its new value. */
export type Change = readonly [column: string, value: string | number | null];

/** The columns a tenant patch sets, validated; fields absent or undefined are left alone. */
export function tenantChanges(patch: TenantPatch): Change[] {
  const what = "update a tenant";
  assertLimit(patch.rpmLimit, what, "rpmLimit");
  assertLimit(patch.tpmLimit, what, "tpmLimit");
  assertBudget(patch.budgetMicros, what, "budgetMicros");
  assertBudgetPeriod(patch.budgetPeriod, what);
  // Column names come from this fixed list, never from the patch's keys.
  return present([
    ["name", patch.name],
    ["rpm_limit", patch.rpmLimit],
    ["tpm_limit", patch.tpmLimit],
    ["budget_micros", patch.budgetMicros],
    ["budget_period", patch.budgetPeriod],
    ["models", patch.models === undefined ? undefined : modelsColumn(patch.models, what)],
  ]);
}

/** The columns a key patch sets, validated; fields absent or undefined are left alone. */
export function apiKeyChanges(patch: ApiKeyPatch): Change[] {
  const what = "update an API key";
  assertLimit(patch.rpmLimit, what, "rpmLimit");
  assertLimit(patch.tpmLimit, what, "tpmLimit");
  assertBudget(patch.budgetMicros, what, "budgetMicros");
  assertBudgetPeriod(patch.budgetPeriod, what);
  return present([
    ["name", patch.name],
    ["rpm_limit", patch.rpmLimit],
    ["tpm_limit", patch.tpmLimit],
    ["budget_micros", patch.budgetMicros],
    ["budget_period", patch.budgetPeriod],
    ["models", patch.models === undefined ? undefined : modelsColumn(patch.models, what)],
  ]);
}

function present(candidates: [string, string | number | null | undefined][]): Change[] {
  return candidates.filter((candidate): candidate is [string, string | number | null] =>
    candidate[1] !== undefined
  );
}

/** The columns of a stored response, in the order {@linkcode ResponseRow} reads them. */
export const RESPONSE_COLUMNS =
  "tenant_id, id, previous_response_id, input_items, response, created_at";

/** A row of {@linkcode RESPONSE_COLUMNS}; `T` is how the dialect gives the time. */
export interface ResponseRow<T extends number | Date> {
  tenant_id: string;
  id: string;
  previous_response_id: string | null;
  input_items: string;
  response: string;
  created_at: T;
}

/** A stored response from its row. */
export function toStoredResponse(row: ResponseRow<number | Date>): StoredResponse {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    previousResponseId: row.previous_response_id,
    inputItems: JSON.parse(row.input_items),
    response: JSON.parse(row.response),
    createdAt: new Date(row.created_at),
  };
}
