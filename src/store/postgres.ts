import { Buffer } from "node:buffer";
import postgres from "postgres";
import type { PeriodStarts } from "../core/mod.ts";
import {
  type AccountFunds,
  type ApiKey,
  type ApiKeyPatch,
  type ApiKeySettings,
  type AuditEntry,
  type AuditFilter,
  type AuditRecord,
  type BudgetSettings,
  type BudgetUsage,
  type Credential,
  type IdempotencyClaimInput,
  type IdempotencyClaimResult,
  type IdempotencyHold,
  type LedgerEntry,
  type LedgerFilter,
  type LedgerRow,
  type LimitSettings,
  type ModelSettings,
  type NearQuota,
  type NearQuotaFilter,
  type Page,
  type PeriodSpend,
  type ReservationInput,
  type ReserveResult,
  reserveResultOf,
  type Store,
  type StoredResponse,
  type Tenant,
  type TenantPatch,
  type UsageTotals,
} from "./types.ts";
import { pendingMigrations, SCHEMA_MIGRATIONS_DDL } from "./migrations.ts";
import {
  accountFundsColumns,
  type AccountFundsRow,
  API_KEY_COLUMNS,
  apiKeyChanges,
  apiKeySettings,
  assertLedgerEntry,
  assertNearQuotaFilter,
  assertPage,
  assertReservation,
  assertSafeInteger,
  auditLimit,
  budgetPeriodOf,
  budgetUsageQuery,
  type BudgetUsageRow,
  type Change,
  COLUMNS,
  CREDENTIAL_COLUMNS,
  type CredentialRow,
  KEY_NEAR_BUDGET_COLUMNS,
  LEDGER_COLUMNS,
  ledgerLimit,
  modelsColumn,
  modelsOf,
  newApiKeyId,
  newTenantId,
  periodsOrNow,
  periodSpentSql,
  RESPONSE_COLUMNS,
  type ResponseRow,
  TENANT_COLUMNS,
  tenantBudget,
  tenantChanges,
  tenantLimits,
  tenantPart,
  toStoredResponse,
} from "./_shared.ts";

/** Options of a {@linkcode PostgresStore}. */
export interface PostgresStoreOptions {
  /** A `postgres://` connection string. */
  url: string;
  /** The schema to work in (its `search_path`), which must exist; default the server's. */
  schema?: string;
  /** Connections in the pool. Default 10. */
  maxConnections?: number;
  /** Seconds to wait for a new connection before failing. Default 10. */
  connectTimeoutSeconds?: number;
  /** Milliseconds {@linkcode PostgresStore.ping} waits for an answer. Default 2000. */
  pingTimeoutMs?: number;
  /** Seconds {@linkcode PostgresStore.close} lets running queries finish. Default 5. */
  closeTimeoutSeconds?: number;
}

// postgres.js returns int8 as a string, so BIGINT columns are typed here as strings and turned
// into numbers by toSafeInteger; a parser that threw inside postgres.js would break the connection.
interface TenantRow {
  id: string;
  name: string;
  balance_micros: string;
  reserved_micros: string;
  rpm_limit: string | null;
  tpm_limit: string | null;
  /** JSON text: see modelsOf. */
  models: string | null;
  budget_micros: string | null;
  budget_period: string | null;
  created_at: Date;
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  rpm_limit: string | null;
  tpm_limit: string | null;
  models: string | null;
  budget_micros: string | null;
  budget_period: string | null;
  spent_micros: string;
  reserved_micros: string;
  require_signature: boolean;
  signing_secret_sealed: string | null;
  created_at: Date;
  revoked_at: Date | null;
}

interface AuditRow {
  id: string;
  created_at: Date;
  actor: string;
  action: string;
  tenant_id: string | null;
  target: string | null;
  trace_id: string | null;
  details: Record<string, unknown>;
}

interface LedgerDbRow {
  id: string;
  trace_id: string;
  tenant_id: string;
  api_key_id: string;
  model: string;
  provider: string;
  input_tokens: string;
  output_tokens: string;
  cache_read_tokens: string;
  cache_write_tokens: string;
  cost_micros: string;
  estimated: boolean;
  created_at: Date;
}

interface ReleasedRow {
  tenant_id: string;
  api_key_id: string;
  amount_micros: string;
}

interface IdempotencyDbRow {
  fingerprint: string;
  state: "running" | "done";
  answer: Uint8Array | null;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/** The {@linkcode Store} on PostgreSQL, for deployments with more than one gateway process. */
export class PostgresStore implements Store {
  /** Always `postgres`. */
  readonly kind = "postgres" as const;
  readonly #sql: postgres.Sql;
  readonly #pingTimeoutMs: number;
  readonly #closeTimeoutSeconds: number;

  /** Creates the pool; connections open lazily on the first query. */
  constructor(options: PostgresStoreOptions) {
    const { schema } = options;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new TypeError(
        `Cannot use schema as 'schema' must match ${SCHEMA_NAME}: current value is "${schema}"`,
      );
    }
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.#closeTimeoutSeconds = options.closeTimeoutSeconds ?? 5;
    this.#sql = postgres(options.url, {
      max: options.maxConnections ?? 10,
      connect_timeout: options.connectTimeoutSeconds ?? 10,
      idle_timeout: 60,
      // CREATE ... IF NOT EXISTS raises notices, which postgres.js would print to the console.
      onnotice: () => {},
      connection: {
        application_name: "gateway",
        ...(schema === undefined ? {} : { search_path: schema }),
      },
    });
  }

  /** Applies pending migrations in one transaction under an advisory lock per schema. */
  async migrate(): Promise<void> {
    await this.#sql.begin(async (tx) => {
      // Without the lock two processes would both see an empty schema_migrations and both run
      // version 1; the lock is keyed by schema so separate schemas do not wait for each other.
      await tx`SELECT pg_advisory_xact_lock(
        hashtext('gateway.migrate:' || coalesce(current_schema(), '')))`;
      await tx.unsafe(SCHEMA_MIGRATIONS_DDL.postgres);
      const rows = await tx<{ version: number }[]>`SELECT version FROM schema_migrations`;
      for (const migration of pendingMigrations(new Set(rows.map((row) => row.version)))) {
        await tx.unsafe(migration.postgres);
        await tx`INSERT INTO schema_migrations (version, name)
          VALUES (${migration.version}, ${migration.name})`;
      }
    });
  }

  /** Creates a tenant with a starting balance and optional limits and models. */
  async createTenant(
    input:
      & { name: string; balanceMicros: number }
      & Partial<LimitSettings & ModelSettings & BudgetSettings>,
  ): Promise<Tenant> {
    assertSafeInteger(input.balanceMicros, "create a tenant", "balanceMicros");
    const limits = tenantLimits(input);
    const budget = tenantBudget(input);
    const models = modelsColumn(input.models, "create a tenant");
    const [row] = await this.#sql<TenantRow[]>`
      INSERT INTO tenants (id, name, balance_micros, rpm_limit, tpm_limit, models, budget_micros,
        budget_period)
      VALUES (${newTenantId()}, ${input.name}, ${input.balanceMicros}, ${limits.rpmLimit},
        ${limits.tpmLimit}, ${models}, ${budget.budgetMicros}, ${budget.budgetPeriod})
      RETURNING ${this.#columns(TENANT_COLUMNS)}`;
    return toTenant(row);
  }

  /** Changes the fields given in one UPDATE; undefined when there is no such tenant. */
  async updateTenant(id: string, patch: TenantPatch): Promise<Tenant | undefined> {
    const row = await this.#update<TenantRow>("tenants", id, tenantChanges(patch));
    return row && toTenant(row);
  }

  /** The tenant, or undefined when there is none with that id. */
  async getTenant(id: string): Promise<Tenant | undefined> {
    const [row] = await this.#sql<TenantRow[]>`
      SELECT ${this.#columns(TENANT_COLUMNS)} FROM tenants WHERE id = ${id}`;
    return row && toTenant(row);
  }

  /** How many tenants exist. */
  async countTenants(): Promise<number> {
    const [row] = await this.#sql<{ count: string }[]>`SELECT count(*) AS count FROM tenants`;
    return Number(row.count);
  }

  /** A page of tenants, oldest first. */
  async listTenants(page: Page): Promise<Tenant[]> {
    assertPage(page);
    const rows = await this.#sql<TenantRow[]>`
      SELECT ${this.#columns(TENANT_COLUMNS)} FROM tenants ORDER BY created_at, id
      LIMIT ${page.limit} OFFSET ${page.offset}`;
    return rows.map(toTenant);
  }

  /** Tenants below the threshold and keys past the share of their budget, least left first. */
  async listNearQuota(filter: NearQuotaFilter): Promise<NearQuota> {
    assertNearQuotaFilter(filter);
    const [tenants, keys] = await Promise.all([
      this.#sql<TenantRow[]>`
        SELECT ${this.#columns(TENANT_COLUMNS)} FROM tenants
        WHERE balance_micros - reserved_micros < ${filter.belowMicros}::bigint
        ORDER BY balance_micros - reserved_micros, id LIMIT ${filter.limit}`,
      this.#sql<(ApiKeyRow & { tenant_name: string })[]>`
        SELECT ${this.#columns(KEY_NEAR_BUDGET_COLUMNS)}
        FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.revoked_at IS NULL AND k.budget_micros IS NOT NULL AND k.budget_period IS NULL
          AND k.spent_micros + k.reserved_micros >= k.budget_micros * ${filter.keyBudgetRatio}::numeric
        ORDER BY k.budget_micros - k.spent_micros - k.reserved_micros, k.id
        LIMIT ${filter.limit}`,
    ]);
    return {
      tenants: tenants.map(toTenant),
      keys: keys.map((row) => ({ ...toApiKey(row), tenantName: row.tenant_name })),
    };
  }

  /** Adds to a tenant's balance in one UPDATE; undefined when there is no such tenant. */
  async addCredits(
    tenantId: string,
    amountMicros: number,
    options: { maxBalanceMicros?: number } = {},
  ): Promise<Tenant | undefined> {
    assertSafeInteger(amountMicros, "add credits", "amountMicros");
    const max = options.maxBalanceMicros ?? Number.MAX_SAFE_INTEGER;
    assertSafeInteger(max, "add credits", "maxBalanceMicros");
    const [row] = await this.#sql<TenantRow[]>`
      UPDATE tenants SET balance_micros = balance_micros + ${amountMicros}
      WHERE id = ${tenantId} AND balance_micros + ${amountMicros}::bigint <= ${max}::bigint
      RETURNING ${this.#columns(TENANT_COLUMNS)}`;
    return row && toTenant(row);
  }

  /** Stores a new key by the hash of its secret; throws when the hash is already stored. */
  async createApiKey(
    input: { tenantId: string; name: string; keyHash: string; prefix: string } & ApiKeySettings,
  ): Promise<ApiKey> {
    const settings = apiKeySettings(input);
    const [row] = await this.#sql<ApiKeyRow[]>`
      INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, rpm_limit, tpm_limit,
        budget_micros, budget_period, require_signature, signing_secret_sealed, models)
      VALUES (${newApiKeyId()}, ${input.tenantId}, ${input.name}, ${input.keyHash},
        ${input.prefix}, ${settings.rpmLimit}, ${settings.tpmLimit}, ${settings.budgetMicros},
        ${settings.budgetPeriod}, ${settings.requireSignature}, ${settings.signingSecretSealed},
        ${settings.models})
      RETURNING ${this.#columns(API_KEY_COLUMNS)}`;
    return toApiKey(row);
  }

  /** Changes the fields given in one UPDATE; undefined when there is no such key. */
  async updateApiKey(id: string, patch: ApiKeyPatch): Promise<ApiKey | undefined> {
    const row = await this.#update<ApiKeyRow>("api_keys", id, apiKeyChanges(patch));
    return row && toApiKey(row);
  }

  /** The tenant's keys, revoked ones included, oldest first. */
  async listApiKeys(tenantId: string): Promise<ApiKey[]> {
    const rows = await this.#sql<ApiKeyRow[]>`
      SELECT ${this.#columns(API_KEY_COLUMNS)} FROM api_keys
      WHERE tenant_id = ${tenantId} ORDER BY created_at, id`;
    return rows.map(toApiKey);
  }

  /** The key whose secret hashes to `keyHash`, revoked or not, with its tenant; one SELECT. */
  async findCredential(keyHash: string): Promise<Credential | undefined> {
    const [row] = await this.#sql<CredentialRow<ApiKeyRow, TenantRow>[]>`
      SELECT ${this.#columns(CREDENTIAL_COLUMNS)}
      FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
      WHERE k.key_hash = ${keyHash}`;
    return row && { key: toApiKey(row), tenant: toTenant(tenantPart(row)) };
  }

  /** Marks a key revoked, keeping the first revocation time; undefined when there is no such key. */
  async revokeApiKey(id: string): Promise<ApiKey | undefined> {
    const [row] = await this.#sql<ApiKeyRow[]>`
      UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = ${id}
      RETURNING ${this.#columns(API_KEY_COLUMNS)}`;
    return row && toApiKey(row);
  }

  /** Appends entries to the audit table in one statement, ids in the order given. */
  async writeAudit(entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // One JSON parameter keeps this a single prepared statement whatever the batch size. It is
    // sent as text: typed jsonb, postgres.js would JSON-encode the string a second time.
    const batch = JSON.stringify(
      entries.map((entry) => ({ ...entry, details: entry.details ?? {} })),
    );
    await this.#sql`
      INSERT INTO audit_log (actor, action, tenant_id, target, trace_id, details)
      SELECT e->>'actor', e->>'action', e->>'tenantId', e->>'target', e->>'traceId', e->'details'
      FROM jsonb_array_elements(${batch}::text::jsonb) WITH ORDINALITY AS batch(e, n)
      ORDER BY n`;
  }

  /** Audit records matching every field of `filter`, newest first. */
  async listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    const sql = this.#sql;
    const conditions = [sql`true`];
    if (filter.tenantId !== undefined) conditions.push(sql`tenant_id = ${filter.tenantId}`);
    if (filter.traceId !== undefined) conditions.push(sql`trace_id = ${filter.traceId}`);
    if (filter.actor !== undefined) conditions.push(sql`actor = ${filter.actor}`);
    if (filter.since !== undefined) conditions.push(sql`created_at >= ${filter.since}`);
    // Stored times have microseconds and Dates only milliseconds: a record read back at .123
    // may be .123456, and `until` set to its createdAt must still include it.
    if (filter.until !== undefined) {
      conditions.push(sql`created_at < ${filter.until}::timestamptz + interval '1 millisecond'`);
    }
    const where = conditions.reduce((all, condition) => sql`${all} AND ${condition}`);
    const rows = await sql<AuditRow[]>`
      SELECT id, created_at, actor, action, tenant_id, target, trace_id, details FROM audit_log
      WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ${auditLimit(filter.limit)}`;
    return rows.map(toAuditRecord);
  }

  /**
   * Reserves with one call of `gateway_reserve` (migration 10): conditional UPDATEs of tenant and
   * key in one transaction, undone together when either lacks funds or budget.
   */
  async reserve(input: ReservationInput): Promise<ReserveResult> {
    assertReservation(input);
    const periods = periodsOrNow(input.periods);
    const [{ outcome }] = await this.#sql<{ outcome: string }[]>`
      SELECT gateway_reserve(${input.traceId}, ${input.tenantId}, ${input.apiKeyId},
        ${input.amountMicros}::bigint, ${input.marginMicros}::bigint,
        ${input.expiresAt}::timestamptz, ${periods.daily}::bigint, ${periods.weekly}::bigint,
        ${periods.monthly}::bigint) AS outcome`;
    return toReserveResult(outcome);
  }

  /** Settles one request as a batch of one (see {@linkcode PostgresStore.settleMany}). */
  async settle(entry: LedgerEntry, periods?: PeriodStarts): Promise<"settled" | "duplicate"> {
    const [outcome] = await this.settleMany([entry], periods);
    return outcome;
  }

  /**
   * One statement calling `gateway_reserve` per item: one round trip and one commit for all. The
   * items run sorted by tenant and key, so that concurrent batches take their row locks in one
   * order and queue instead of deadlocking.
   */
  async reserveMany(inputs: ReservationInput[]): Promise<ReserveResult[]> {
    inputs.forEach(assertReservation);
    const order = lockOrder(inputs);
    const items = order.map((i) => ({ ...inputs[i], periods: periodsOrNow(inputs[i].periods) }));
    // One JSON parameter, sent as text, keeps this one prepared statement whatever the size.
    const batch = JSON.stringify(items);
    // Aggregated into one row, so that a failing item fails the statement before any row of it
    // has been sent: postgres.js mixes up a connection that got rows and then an error.
    const [{ outcomes }] = await this.#sql<{ outcomes: string[] }[]>`
      SELECT array_agg(outcome ORDER BY n) AS outcomes FROM (
        SELECT n, gateway_reserve(r->>'traceId', r->>'tenantId', r->>'apiKeyId',
          (r->>'amountMicros')::bigint, (r->>'marginMicros')::bigint,
          (r->>'expiresAt')::timestamptz, (r->'periods'->>'daily')::bigint,
          (r->'periods'->>'weekly')::bigint, (r->'periods'->>'monthly')::bigint) AS outcome
        FROM jsonb_array_elements(${batch}::text::jsonb) WITH ORDINALITY AS batch(r, n)
      ) AS reserved`;
    const results: ReserveResult[] = new Array(inputs.length);
    outcomes.forEach((outcome, position) => results[order[position]] = toReserveResult(outcome));
    return results;
  }

  /**
   * One call of `gateway_settle_budgets`: each tenant and key charged once for the whole batch,
   * and the spend counted in the budget periods `periods`.
   */
  async settleMany(
    entries: LedgerEntry[],
    periods?: PeriodStarts,
  ): Promise<Array<"settled" | "duplicate">> {
    entries.forEach(assertLedgerEntry);
    const starts = periodsOrNow(periods);
    // By trace id too: a batch repeating another's requests (a job handed out again) inserts
    // their ledger rows in the same order, so the two cannot deadlock (PostgreSQL would abort one).
    const order = lockOrder(entries, (entry) => entry.traceId);
    const items = order.map((i) => entries[i]);
    const batch = JSON.stringify(items);
    const [{ outcomes }] = await this.#sql<{ outcomes: Array<"settled" | "duplicate"> }[]>`
      SELECT gateway_settle_budgets(${batch}::text::jsonb, ${starts.daily}::bigint,
        ${starts.weekly}::bigint, ${starts.monthly}::bigint) AS outcomes`;
    const results: Array<"settled" | "duplicate"> = new Array(entries.length);
    outcomes.forEach((outcome, position) => results[order[position]] = outcome);
    return results;
  }

  /** Drops the reservation and gives its amount back to tenant and key: `gateway_release`. */
  async release(traceId: string): Promise<void> {
    await this.#sql`SELECT gateway_release(${traceId})`;
  }

  /** Releases every reservation that expired before `now`, in one transaction. */
  async releaseExpiredReservations(now: Date): Promise<number> {
    return await this.#sql.begin(async (tx) => {
      // SKIP LOCKED: a reservation being settled or released right now is left to that request,
      // and two sweepers never wait on each other's rows.
      const released = await tx<ReleasedRow[]>`
        DELETE FROM reservations WHERE trace_id IN (
          SELECT trace_id FROM reservations WHERE expires_at < ${now}
          FOR UPDATE SKIP LOCKED)
        RETURNING tenant_id, api_key_id, amount_micros`;
      await this.#giveBack(tx, released);
      return released.length;
    });
  }

  /** Requests, tokens and cost of a tenant's ledger rows created in [since, until). */
  async usageTotals(
    tenantId: string,
    range: { since?: Date; until?: Date },
  ): Promise<UsageTotals> {
    const sql = this.#sql;
    const conditions = [sql`tenant_id = ${tenantId}`];
    if (range.since !== undefined) conditions.push(sql`created_at >= ${range.since}`);
    if (range.until !== undefined) conditions.push(sql`created_at < ${range.until}`);
    const where = conditions.reduce((all, condition) => sql`${all} AND ${condition}`);
    const [row] = await sql<Record<string, string>[]>`
      SELECT count(*) AS requests, coalesce(sum(input_tokens), 0) AS input_tokens,
        coalesce(sum(output_tokens), 0) AS output_tokens,
        coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
        coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
        coalesce(sum(cost_micros), 0) AS cost_micros
      FROM ledger WHERE ${where}`;
    return {
      requests: toSafeInteger(row.requests, "count"),
      inputTokens: toSafeInteger(row.input_tokens, "input_tokens"),
      outputTokens: toSafeInteger(row.output_tokens, "output_tokens"),
      cacheReadTokens: toSafeInteger(row.cache_read_tokens, "cache_read_tokens"),
      cacheWriteTokens: toSafeInteger(row.cache_write_tokens, "cache_write_tokens"),
      costMicros: toSafeInteger(row.cost_micros, "cost_micros"),
    };
  }

  /** Ledger rows matching every field of `filter`, newest first. */
  async settledTraceIds(traceIds: string[]): Promise<string[]> {
    if (traceIds.length === 0) return [];
    const rows = await this.#sql<{ trace_id: string }[]>`
      SELECT trace_id FROM ledger WHERE trace_id = ANY(${traceIds}::text[])`;
    return rows.map((row) => row.trace_id);
  }

  async fundsOf(
    tenantId: string,
    apiKeyId: string,
    periods?: PeriodStarts,
  ): Promise<AccountFunds | undefined> {
    const [row] = await this.#sql<AccountFundsRow<string>[]>`
      SELECT ${this.#sql.unsafe(accountFundsColumns(periodsOrNow(periods)))}
      FROM tenants t JOIN api_keys k ON k.tenant_id = t.id
      WHERE t.id = ${tenantId} AND k.id = ${apiKeyId}`;
    return row && {
      balanceMicros: toSafeInteger(row.balance_micros, "balance_micros"),
      reservedMicros: toSafeInteger(row.reserved_micros, "reserved_micros"),
      tenantBudgetMicros: toNullableSafeInteger(row.tenant_budget_micros, "tenant_budget_micros"),
      tenantBudgetPeriod: budgetPeriodOf(row.tenant_budget_period),
      tenantSpentMicros: toSafeInteger(row.tenant_spent_micros, "tenant_spent_micros"),
      budgetPeriod: budgetPeriodOf(row.budget_period),
      budgetMicros: row.budget_micros === null
        ? null
        : toSafeInteger(row.budget_micros, "budget_micros"),
      spentMicros: toSafeInteger(row.spent_micros, "spent_micros"),
      keyReservedMicros: toSafeInteger(row.key_reserved_micros, "key_reserved_micros"),
    };
  }

  async listBudgetUsage(
    filter: { periods: PeriodStarts; limit: number },
  ): Promise<BudgetUsage[]> {
    assertPage({ offset: 0, limit: filter.limit });
    const query = budgetUsageQuery(periodsOrNow(filter.periods));
    const rows = await this.#sql<BudgetUsageRow<string>[]>`
      ${this.#sql.unsafe(query)} LIMIT ${filter.limit}`;
    return rows.map((row) => ({
      tenantId: row.tenant_id,
      apiKeyId: row.api_key_id,
      budgetMicros: toSafeInteger(row.budget_micros, "budget_micros"),
      budgetPeriod: budgetPeriodOf(row.budget_period),
      spentMicros: toSafeInteger(row.spent_micros, "spent_micros"),
      reservedMicros: toSafeInteger(row.reserved_micros, "reserved_micros"),
    }));
  }

  async periodSpend(tenantId: string, periods: PeriodStarts): Promise<PeriodSpend> {
    const starts = periodsOrNow(periods);
    const sql = this.#sql;
    const [tenant, keys] = await Promise.all([
      sql<{ spent: string }[]>`
        SELECT ${sql.unsafe(periodSpentSql("tenant", starts))} AS spent
        FROM tenants t WHERE t.id = ${tenantId}`,
      sql<{ id: string; spent: string }[]>`
        SELECT k.id, ${sql.unsafe(periodSpentSql("key", starts))} AS spent
        FROM api_keys k WHERE k.tenant_id = ${tenantId}`,
    ]);
    return {
      tenantMicros: tenant[0] ? toSafeInteger(tenant[0].spent, "spent_micros") : 0,
      keyMicros: Object.fromEntries(
        keys.map((key) => [key.id, toSafeInteger(key.spent, "spent_micros")]),
      ),
    };
  }

  async listLedger(filter: LedgerFilter): Promise<LedgerRow[]> {
    const sql = this.#sql;
    const conditions = [sql`true`];
    if (filter.tenantId !== undefined) conditions.push(sql`tenant_id = ${filter.tenantId}`);
    if (filter.traceId !== undefined) conditions.push(sql`trace_id = ${filter.traceId}`);
    const where = conditions.reduce((all, condition) => sql`${all} AND ${condition}`);
    const rows = await sql<LedgerDbRow[]>`
      SELECT ${this.#columns(LEDGER_COLUMNS)} FROM ledger
      WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ${ledgerLimit(filter.limit)}`;
    return rows.map(toLedgerRow);
  }

  // Tenants are locked before keys and each in id order, the order reserve and settle follow
  // for their one tenant and one key, so a sweep of many never deadlocks with a request.
  async #giveBack(tx: postgres.TransactionSql, released: ReleasedRow[]): Promise<void> {
    if (released.length === 0) return;
    const tenants = sumBy(released, (row) => row.tenant_id);
    const keys = sumBy(released, (row) => row.api_key_id);
    for (const [id, amount] of tenants) {
      await tx`UPDATE tenants SET reserved_micros = reserved_micros - ${amount}::bigint
        WHERE id = ${id}`;
    }
    for (const [id, amount] of keys) {
      await tx`UPDATE api_keys SET reserved_micros = reserved_micros - ${amount}::bigint
        WHERE id = ${id}`;
    }
  }

  // The column lists are constants of this module, so splicing them in as text is safe.
  #columns(list: string): postgres.PendingQuery<postgres.Row[]> {
    return this.#sql.unsafe(list);
  }

  // An empty change list reads the row instead, so an empty patch answers like any other.
  async #update<T extends postgres.Row>(
    table: keyof typeof COLUMNS,
    id: string,
    changes: Change[],
  ): Promise<T | undefined> {
    const sql = this.#sql;
    const columns = this.#columns(COLUMNS[table]);
    const [row] = changes.length === 0
      ? await sql<T[]>`SELECT ${columns} FROM ${sql(table)} WHERE id = ${id}`
      : await sql<T[]>`UPDATE ${sql(table)} SET ${sql(Object.fromEntries(changes))}
          WHERE id = ${id} RETURNING ${columns}`;
    return row;
  }

  /** Nothing to wait for: a PostgreSQL commit is on disk when it returns. */
  flushToDisk(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Claims the key: free or expired rows are taken over in place by one upsert, whose conflict
   * check waits for a concurrent claim to commit. A key that was let go between the upsert and the
   * read is claimed again.
   */
  async claimIdempotencyKey(input: IdempotencyClaimInput): Promise<IdempotencyClaimResult> {
    const { tenantId, apiKeyId, key, fingerprint, token, now, leaseExpiresAt } = input;
    for (let attempt = 0; attempt < 3; attempt++) {
      const claimed = await this.#sql`
        INSERT INTO idempotency_keys (tenant_id, api_key_id, idempotency_key, fingerprint, state,
          token, answer, expires_at, created_at)
        VALUES (${tenantId}, ${apiKeyId}, ${key}, ${fingerprint}, 'running', ${token}, NULL,
          ${leaseExpiresAt}, ${now})
        ON CONFLICT (tenant_id, api_key_id, idempotency_key) DO UPDATE SET
          fingerprint = excluded.fingerprint, state = 'running', token = excluded.token,
          answer = NULL, expires_at = excluded.expires_at, created_at = excluded.created_at
        WHERE idempotency_keys.expires_at <= ${now}
        RETURNING token`;
      if (claimed.length > 0) return { outcome: "claimed" };
      const [held] = await this.#sql<IdempotencyDbRow[]>`
        SELECT fingerprint, state, answer FROM idempotency_keys
        WHERE tenant_id = ${tenantId} AND api_key_id = ${apiKeyId} AND idempotency_key = ${key}
          AND expires_at > ${now}`;
      if (held === undefined) continue;
      if (held.fingerprint !== fingerprint) return { outcome: "mismatch" };
      if (held.state === "running") return { outcome: "running" };
      return { outcome: "done", answer: held.answer === null ? null : new Uint8Array(held.answer) };
    }
    throw new Error("Cannot claim the idempotency key as it kept changing hands");
  }

  /** Moves the lease of a hold that is still this token's. */
  async renewIdempotencyKey(hold: IdempotencyHold & { leaseExpiresAt: Date }): Promise<boolean> {
    const rows = await this.#sql`
      UPDATE idempotency_keys SET expires_at = ${hold.leaseExpiresAt}
      WHERE ${this.#holdIs(hold)} RETURNING 1`;
    return rows.length > 0;
  }

  /** Records the answer of a hold that is still this token's. */
  async completeIdempotencyKey(
    hold: IdempotencyHold & { answer: Uint8Array | null; expiresAt: Date },
  ): Promise<boolean> {
    const answer = hold.answer === null
      ? null
      : Buffer.from(hold.answer.buffer, hold.answer.byteOffset, hold.answer.byteLength);
    const rows = await this.#sql`
      UPDATE idempotency_keys SET state = 'done', token = NULL, answer = ${answer},
        expires_at = ${hold.expiresAt}
      WHERE ${this.#holdIs(hold)} RETURNING 1`;
    return rows.length > 0;
  }

  /** Deletes a hold that is still this token's. */
  async releaseIdempotencyKey(hold: IdempotencyHold): Promise<void> {
    await this.#sql`DELETE FROM idempotency_keys WHERE ${this.#holdIs(hold)}`;
  }

  /** Deletes every row that expired by `now`. */
  async deleteExpiredIdempotencyKeys(now: Date): Promise<number> {
    const result = await this.#sql`DELETE FROM idempotency_keys WHERE expires_at <= ${now}`;
    return result.count;
  }

  #holdIs(hold: IdempotencyHold): postgres.PendingQuery<postgres.Row[]> {
    return this.#sql`tenant_id = ${hold.tenantId} AND api_key_id = ${hold.apiKeyId}
      AND idempotency_key = ${hold.key} AND token = ${hold.token} AND state = 'running'`;
  }

  /**
   * Keeps responses in one statement, each replacing one of its tenant's with the same id; an id
   * twice in one call is refused by PostgreSQL (the caller then saves them one by one).
   */
  async saveResponses(responses: StoredResponse[]): Promise<void> {
    if (responses.length === 0) return;
    const rows = responses.map((response) => ({
      tenant_id: response.tenantId,
      id: response.id,
      previous_response_id: response.previousResponseId,
      input_items: JSON.stringify(response.inputItems),
      response: JSON.stringify(response.response),
      created_at: response.createdAt,
    }));
    await this.#sql`
      INSERT INTO responses ${this.#sql(rows)}
      ON CONFLICT (tenant_id, id) DO UPDATE SET
        previous_response_id = excluded.previous_response_id,
        input_items = excluded.input_items, response = excluded.response,
        created_at = excluded.created_at`;
  }

  /** The tenant's response with this id. */
  async getResponse(tenantId: string, id: string): Promise<StoredResponse | undefined> {
    const [row] = await this.#sql<ResponseRow<Date>[]>`
      SELECT ${this.#sql.unsafe(RESPONSE_COLUMNS)} FROM responses
      WHERE tenant_id = ${tenantId} AND id = ${id}`;
    return row && toStoredResponse(row);
  }

  /** Deletes the tenant's response with this id. */
  async deleteResponse(tenantId: string, id: string): Promise<boolean> {
    const result = await this.#sql`
      DELETE FROM responses WHERE tenant_id = ${tenantId} AND id = ${id}`;
    return result.count > 0;
  }

  /** Deletes every response created before `cutoff`. */
  async deleteResponsesCreatedBefore(cutoff: Date): Promise<number> {
    const result = await this.#sql`DELETE FROM responses WHERE created_at < ${cutoff}`;
    return result.count;
  }

  /** Runs `select 1`; throws when there is no answer within the ping timeout. */
  async ping(): Promise<void> {
    const query = this.#sql`SELECT 1`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        query.cancel();
        reject(new Error(`PostgreSQL did not answer a ping within ${this.#pingTimeoutMs} ms`));
      }, this.#pingTimeoutMs);
    });
    try {
      await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the pool, letting running queries finish for up to the close timeout. */
  async close(): Promise<void> {
    await this.#sql.end({ timeout: this.#closeTimeoutSeconds });
  }
}

function toSafeInteger(value: string, column: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new RangeError(`Cannot read '${column}' as a safe integer: current value is ${value}`);
  }
  return number;
}

function toNullableSafeInteger(value: string | null, column: string): number | null {
  return value === null ? null : toSafeInteger(value, column);
}

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    balanceMicros: toSafeInteger(row.balance_micros, "balance_micros"),
    reservedMicros: toSafeInteger(row.reserved_micros, "reserved_micros"),
    rpmLimit: toNullableSafeInteger(row.rpm_limit, "rpm_limit"),
    tpmLimit: toNullableSafeInteger(row.tpm_limit, "tpm_limit"),
    models: modelsOf(row.models),
    budgetMicros: toNullableSafeInteger(row.budget_micros, "budget_micros"),
    budgetPeriod: budgetPeriodOf(row.budget_period),
    createdAt: row.created_at,
  };
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    rpmLimit: toNullableSafeInteger(row.rpm_limit, "rpm_limit"),
    tpmLimit: toNullableSafeInteger(row.tpm_limit, "tpm_limit"),
    models: modelsOf(row.models),
    budgetMicros: toNullableSafeInteger(row.budget_micros, "budget_micros"),
    budgetPeriod: budgetPeriodOf(row.budget_period),
    spentMicros: toSafeInteger(row.spent_micros, "spent_micros"),
    reservedMicros: toSafeInteger(row.reserved_micros, "reserved_micros"),
    requireSignature: row.require_signature,
    signingSecretSealed: row.signing_secret_sealed,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

function toAuditRecord(row: AuditRow): AuditRecord {
  return {
    id: toSafeInteger(row.id, "id"),
    createdAt: row.created_at,
    actor: row.actor,
    action: row.action,
    tenantId: row.tenant_id,
    target: row.target,
    traceId: row.trace_id,
    details: row.details,
  };
}

function toLedgerRow(row: LedgerDbRow): LedgerRow {
  return {
    id: toSafeInteger(row.id, "id"),
    traceId: row.trace_id,
    tenantId: row.tenant_id,
    apiKeyId: row.api_key_id,
    model: row.model,
    provider: row.provider,
    inputTokens: toSafeInteger(row.input_tokens, "input_tokens"),
    outputTokens: toSafeInteger(row.output_tokens, "output_tokens"),
    cacheReadTokens: toSafeInteger(row.cache_read_tokens, "cache_read_tokens"),
    cacheWriteTokens: toSafeInteger(row.cache_write_tokens, "cache_write_tokens"),
    costMicros: toSafeInteger(row.cost_micros, "cost_micros"),
    estimated: row.estimated,
    createdAt: row.created_at,
  };
}

// Sums the amounts per id, as decimal strings (bigint inside), sorted by id for lock order.
function sumBy(rows: ReleasedRow[], id: (row: ReleasedRow) => string): [string, string][] {
  const sums = new Map<string, bigint>();
  for (const row of rows) {
    sums.set(id(row), (sums.get(id(row)) ?? 0n) + BigInt(row.amount_micros));
  }
  return [...sums].sort(([a], [b]) => compareText(a, b)).map(([key, sum]) => [key, sum.toString()]);
}

/**
 * Indexes of `items` sorted by tenant, then key, then `then` when given: the order every batch
 * takes its row locks in. Ties keep the batch's order.
 */
function lockOrder<T extends { tenantId: string; apiKeyId: string }>(
  items: T[],
  then: (item: T) => string = () => "",
): number[] {
  return items.map((_, index) => index).sort((a, b) =>
    compareText(items[a].tenantId, items[b].tenantId) ||
    compareText(items[a].apiKeyId, items[b].apiKeyId) ||
    compareText(then(items[a]), then(items[b])) ||
    a - b
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What `gateway_reserve` answered, checked: anything else is a schema out of step with the code. */
function toReserveResult(outcome: string): ReserveResult {
  const result = reserveResultOf(outcome);
  if (!result) throw new Error(`Cannot reserve as the database answered '${outcome}'`);
  return result;
}
