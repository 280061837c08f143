import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import type { PeriodStarts } from "../core/mod.ts";
import type {
  AccountFunds,
  ApiKey,
  ApiKeyPatch,
  ApiKeySettings,
  AuditEntry,
  AuditFilter,
  AuditRecord,
  BudgetSettings,
  BudgetUsage,
  Credential,
  IdempotencyClaimInput,
  IdempotencyClaimResult,
  IdempotencyHold,
  LedgerEntry,
  LedgerFilter,
  LedgerRow,
  LimitSettings,
  ModelSettings,
  NearQuota,
  NearQuotaFilter,
  Page,
  PeriodSpend,
  ReservationInput,
  ReserveResult,
  Store,
  StoredResponse,
  Tenant,
  TenantPatch,
  UsageTotals,
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
  keyMismatch,
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

/** Options of a {@linkcode SqliteStore}. */
export interface SqliteStoreOptions {
  /** The folder that holds `gateway.db`; created when missing. */
  dataDir: string;
  /** How long a write waits for another process's lock before failing. Default 5000. */
  busyTimeoutMs?: number;
}

interface TenantRow {
  id: string;
  name: string;
  balance_micros: number;
  reserved_micros: number;
  rpm_limit: number | null;
  tpm_limit: number | null;
  /** JSON text: see modelsOf. */
  models: string | null;
  budget_micros: number | null;
  budget_period: string | null;
  created_at: number;
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  rpm_limit: number | null;
  tpm_limit: number | null;
  models: string | null;
  budget_micros: number | null;
  budget_period: string | null;
  spent_micros: number;
  reserved_micros: number;
  /** 0 or 1: SQLite has no boolean type. */
  require_signature: number;
  signing_secret_sealed: string | null;
  created_at: number;
  revoked_at: number | null;
}

interface AuditRow {
  id: number;
  created_at: number;
  actor: string;
  action: string;
  tenant_id: string | null;
  target: string | null;
  trace_id: string | null;
  details: string;
}

interface LedgerDbRow {
  id: number;
  trace_id: string;
  tenant_id: string;
  api_key_id: string;
  model: string;
  provider: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_micros: number;
  /** 0 or 1. */
  estimated: number;
  created_at: number;
}

interface ReleasedRow {
  tenant_id: string;
  api_key_id: string;
  amount_micros: number;
}

/** The shortest time between the starts of two fsyncs of the write-ahead log (see flushToDisk). */
export const MIN_FLUSH_INTERVAL_MS = 10;

const AUDIT_COLUMNS = "id, created_at, actor, action, tenant_id, target, trace_id, details";

/** The {@linkcode Store} on a single SQLite file, for one-process deployments and development. */
export class SqliteStore implements Store {
  /** Always `sqlite`. */
  readonly kind = "sqlite" as const;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  /** The write-ahead log (`journal_mode = WAL`), next to the database file. */
  readonly #logPath: string;
  #log: Deno.FsFile | undefined;
  #flushing: Promise<void> | undefined;
  #flushQueued: Promise<void> | undefined;
  #syncStarted = false;
  #lastSyncEndedAt = -Infinity;
  #closed = false;

  /** Opens (and creates) `<dataDir>/gateway.db`; call {@linkcode SqliteStore.migrate} next. */
  constructor(options: SqliteStoreOptions) {
    Deno.mkdirSync(options.dataDir, { recursive: true });
    this.#db = new DatabaseSync(join(options.dataDir, "gateway.db"));
    this.#logPath = join(options.dataDir, "gateway.db-wal");
    // busy_timeout first: switching to WAL takes a lock another process may be holding.
    this.#db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    this.#db.exec("PRAGMA journal_mode = WAL");
    // Every commit waits for the disk, but for those of #transactionFlushedLater.
    this.#db.exec("PRAGMA synchronous = FULL");
    this.#db.exec("PRAGMA foreign_keys = ON");
  }

  /** Applies pending migrations under SQLite's write lock, so concurrent processes take turns. */
  migrate(): Promise<void> {
    return Promise.try(() =>
      this.#transaction(() => {
        this.#db.exec(SCHEMA_MIGRATIONS_DDL.sqlite);
        const rows = this.#all<{ version: number }>("SELECT version FROM schema_migrations");
        for (const migration of pendingMigrations(new Set(rows.map((row) => row.version)))) {
          this.#db.exec(migration.sqlite);
          this.#run(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            migration.version,
            migration.name,
            Date.now(),
          );
        }
      })
    );
  }

  /** Creates a tenant with a starting balance and optional limits and models. */
  createTenant(
    input:
      & { name: string; balanceMicros: number }
      & Partial<LimitSettings & ModelSettings & BudgetSettings>,
  ): Promise<Tenant> {
    return Promise.try(() => {
      assertSafeInteger(input.balanceMicros, "create a tenant", "balanceMicros");
      const limits = tenantLimits(input);
      const budget = tenantBudget(input);
      const row = this.#get<TenantRow>(
        `INSERT INTO tenants (id, name, balance_micros, rpm_limit, tpm_limit, models,
           budget_micros, budget_period, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${TENANT_COLUMNS}`,
        newTenantId(),
        input.name,
        input.balanceMicros,
        limits.rpmLimit,
        limits.tpmLimit,
        modelsColumn(input.models, "create a tenant"),
        budget.budgetMicros,
        budget.budgetPeriod,
        Date.now(),
      );
      return toTenant(row!);
    });
  }

  /** Changes the fields given in one UPDATE; undefined when there is no such tenant. */
  updateTenant(id: string, patch: TenantPatch): Promise<Tenant | undefined> {
    return Promise.try(() => {
      const row = this.#update<TenantRow>("tenants", id, tenantChanges(patch));
      return row && toTenant(row);
    });
  }

  /** The tenant, or undefined when there is none with that id. */
  getTenant(id: string): Promise<Tenant | undefined> {
    return Promise.try(() => {
      const row = this.#get<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = ?`, id);
      return row && toTenant(row);
    });
  }

  /** How many tenants exist. */
  countTenants(): Promise<number> {
    return Promise.try(() => {
      const row = this.#get<{ count: number | bigint }>("SELECT count(*) AS count FROM tenants");
      return Number(row?.count ?? 0);
    });
  }

  /** A page of tenants, oldest first (rowid breaks ties within a millisecond). */
  listTenants(page: Page): Promise<Tenant[]> {
    return Promise.try(() => {
      assertPage(page);
      return this.#all<TenantRow>(
        `SELECT ${TENANT_COLUMNS} FROM tenants ORDER BY created_at, rowid LIMIT ? OFFSET ?`,
        page.limit,
        page.offset,
      ).map(toTenant);
    });
  }

  /** Tenants below the threshold and keys past the share of their budget, least left first. */
  listNearQuota(filter: NearQuotaFilter): Promise<NearQuota> {
    return Promise.try(() => {
      assertNearQuotaFilter(filter);
      const tenants = this.#all<TenantRow>(
        `SELECT ${TENANT_COLUMNS} FROM tenants WHERE balance_micros - reserved_micros < ?
         ORDER BY balance_micros - reserved_micros, id LIMIT ?`,
        filter.belowMicros,
        filter.limit,
      ).map(toTenant);
      const keys = this.#all<ApiKeyRow & { tenant_name: string }>(
        `SELECT ${KEY_NEAR_BUDGET_COLUMNS} FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.revoked_at IS NULL AND k.budget_micros IS NOT NULL AND k.budget_period IS NULL
           AND k.spent_micros + k.reserved_micros >= k.budget_micros * ?
         ORDER BY k.budget_micros - k.spent_micros - k.reserved_micros, k.id LIMIT ?`,
        filter.keyBudgetRatio,
        filter.limit,
      ).map((row) => ({ ...toApiKey(row), tenantName: row.tenant_name }));
      return { tenants, keys };
    });
  }

  /** Adds to a tenant's balance in one UPDATE; undefined when there is no such tenant. */
  addCredits(
    tenantId: string,
    amountMicros: number,
    options: { maxBalanceMicros?: number } = {},
  ): Promise<Tenant | undefined> {
    return Promise.try(() => {
      assertSafeInteger(amountMicros, "add credits", "amountMicros");
      const max = options.maxBalanceMicros ?? Number.MAX_SAFE_INTEGER;
      assertSafeInteger(max, "add credits", "maxBalanceMicros");
      const row = this.#get<TenantRow>(
        `UPDATE tenants SET balance_micros = balance_micros + ?
         WHERE id = ? AND balance_micros + ? <= ?
         RETURNING ${TENANT_COLUMNS}`,
        amountMicros,
        tenantId,
        amountMicros,
        max,
      );
      return row && toTenant(row);
    });
  }

  /** Stores a new key by the hash of its secret; throws when the hash is already stored. */
  createApiKey(
    input: { tenantId: string; name: string; keyHash: string; prefix: string } & ApiKeySettings,
  ): Promise<ApiKey> {
    return Promise.try(() => {
      const settings = apiKeySettings(input);
      const row = this.#get<ApiKeyRow>(
        `INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, rpm_limit, tpm_limit,
           budget_micros, budget_period, require_signature, signing_secret_sealed, models,
           created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${API_KEY_COLUMNS}`,
        newApiKeyId(),
        input.tenantId,
        input.name,
        input.keyHash,
        input.prefix,
        settings.rpmLimit,
        settings.tpmLimit,
        settings.budgetMicros,
        settings.budgetPeriod,
        settings.requireSignature ? 1 : 0,
        settings.signingSecretSealed,
        settings.models,
        Date.now(),
      );
      return toApiKey(row!);
    });
  }

  /** Changes the fields given in one UPDATE; undefined when there is no such key. */
  updateApiKey(id: string, patch: ApiKeyPatch): Promise<ApiKey | undefined> {
    return Promise.try(() => {
      const row = this.#update<ApiKeyRow>("api_keys", id, apiKeyChanges(patch));
      return row && toApiKey(row);
    });
  }

  /** The tenant's keys, revoked ones included, oldest first. */
  listApiKeys(tenantId: string): Promise<ApiKey[]> {
    return Promise.try(() =>
      // rowid breaks ties between keys created in the same millisecond.
      this.#all<ApiKeyRow>(
        `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at, rowid`,
        tenantId,
      ).map(toApiKey)
    );
  }

  /** The key whose secret hashes to `keyHash`, revoked or not, with its tenant; one SELECT. */
  findCredential(keyHash: string): Promise<Credential | undefined> {
    return Promise.try(() => {
      const row = this.#get<CredentialRow<ApiKeyRow, TenantRow>>(
        `SELECT ${CREDENTIAL_COLUMNS} FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.key_hash = ?`,
        keyHash,
      );
      return row && { key: toApiKey(row), tenant: toTenant(tenantPart(row)) };
    });
  }

  /** Marks a key revoked, keeping the first revocation time; undefined when there is no such key. */
  revokeApiKey(id: string): Promise<ApiKey | undefined> {
    return Promise.try(() => {
      const row = this.#get<ApiKeyRow>(
        `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?
         RETURNING ${API_KEY_COLUMNS}`,
        Date.now(),
        id,
      );
      return row && toApiKey(row);
    });
  }

  /** Appends entries to the audit table in one transaction. */
  writeAudit(entries: AuditEntry[]): Promise<void> {
    return Promise.try(() => {
      if (entries.length === 0) return;
      const now = Date.now();
      this.#transactionFlushedLater(() => {
        for (const entry of entries) {
          this.#run(
            `INSERT INTO audit_log (created_at, actor, action, tenant_id, target, trace_id, details)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
            now,
            entry.actor,
            entry.action,
            entry.tenantId,
            entry.target,
            entry.traceId,
            JSON.stringify(entry.details ?? {}),
          );
        }
      });
    });
  }

  /** Audit records matching every field of `filter`, newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return Promise.try(() => {
      const conditions: string[] = [];
      const params: SQLInputValue[] = [];
      const where = (condition: string, value: SQLInputValue) => {
        conditions.push(condition);
        params.push(value);
      };
      if (filter.tenantId !== undefined) where("tenant_id = ?", filter.tenantId);
      if (filter.traceId !== undefined) where("trace_id = ?", filter.traceId);
      if (filter.actor !== undefined) where("actor = ?", filter.actor);
      if (filter.since !== undefined) where("created_at >= ?", filter.since.getTime());
      if (filter.until !== undefined) where("created_at <= ?", filter.until.getTime());
      params.push(auditLimit(filter.limit));
      const sql = `SELECT ${AUDIT_COLUMNS} FROM audit_log
        ${conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""}
        ORDER BY created_at DESC, id DESC LIMIT ?`;
      return this.#all<AuditRow>(sql, ...params).map(toAuditRecord);
    });
  }

  /**
   * Reserves under SQLite's write lock (BEGIN IMMEDIATE), which serialises every writer on the
   * file, other processes included, so the conditional UPDATEs see the latest counters.
   */
  reserve(input: ReservationInput): Promise<ReserveResult> {
    return Promise.try((): ReserveResult => {
      assertReservation(input);
      return this.#transactionFlushedLater(() => this.#reserveStep(input));
    });
  }

  /**
   * Reserves inside the caller's transaction, under a savepoint of its own, so that a refusal
   * undoes this item only and a batch of them shares one commit.
   */
  #reserveStep(input: ReservationInput): ReserveResult {
    const { traceId, tenantId, apiKeyId, amountMicros: amount, marginMicros: margin } = input;
    // A trace id names one request: one already reserved or settled is another request's.
    const held = this.#get(
      `SELECT 1 FROM reservations WHERE trace_id = ?
       UNION ALL SELECT 1 FROM ledger WHERE trace_id = ?`,
      traceId,
      traceId,
    );
    if (held !== undefined) return { ok: false, reason: "duplicate" };
    // Checked before any write: the transaction is this connection's alone, so nothing changes
    // between the checks and the writes, and a refusal leaves nothing to undo.
    const periods = periodsOrNow(input.periods);
    const tenant = this.#get<{ covered: number; within_budget: number }>(
      `SELECT balance_micros - reserved_micros - ? >= -? AS covered,
         budget_micros IS NULL OR ${periodSpentSql("tenant", periods)} + reserved_micros + ?
           <= budget_micros + ? AS within_budget
       FROM tenants t WHERE id = ?`,
      amount,
      margin,
      amount,
      margin,
      tenantId,
    );
    if (tenant === undefined) {
      throw new Error(`Cannot reserve as tenant '${tenantId}' does not exist`);
    }
    if (!tenant.covered) return { ok: false, reason: "tenant_balance" };
    if (!tenant.within_budget) return { ok: false, reason: "tenant_budget" };
    const key = this.#get<{ covered: number }>(
      `SELECT budget_micros IS NULL OR ${periodSpentSql("key", periods)} + reserved_micros + ?
         <= budget_micros + ? AS covered FROM api_keys k WHERE id = ? AND tenant_id = ?`,
      amount,
      margin,
      apiKeyId,
      tenantId,
    );
    if (key === undefined) throw keyMismatch("reserve", apiKeyId, tenantId);
    if (!key.covered) return { ok: false, reason: "key_budget" };
    this.#run(
      `INSERT INTO reservations (trace_id, tenant_id, api_key_id, amount_micros, created_at,
         expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
      traceId,
      tenantId,
      apiKeyId,
      amount,
      Date.now(),
      input.expiresAt.getTime(),
    );
    this.#run(
      "UPDATE tenants SET reserved_micros = reserved_micros + ? WHERE id = ?",
      amount,
      tenantId,
    );
    this.#run(
      "UPDATE api_keys SET reserved_micros = reserved_micros + ? WHERE id = ?",
      amount,
      apiKeyId,
    );
    return { ok: true };
  }

  /** Reserves item by item in one transaction: one commit (one fsync) for the batch. */
  reserveMany(inputs: ReservationInput[]): Promise<ReserveResult[]> {
    return Promise.try(() => {
      inputs.forEach(assertReservation);
      return this.#transactionFlushedLater(() => inputs.map((input) => this.#reserveStep(input)));
    });
  }

  /**
   * Settles a batch in one transaction, each tenant and key charged once for all its rows (one
   * UPDATE each, not one per row); any failure undoes the whole batch.
   */
  settleMany(
    entries: LedgerEntry[],
    periods?: PeriodStarts,
  ): Promise<Array<"settled" | "duplicate">> {
    return Promise.try(() => {
      entries.forEach(assertLedgerEntry);
      const starts = periodsOrNow(periods);
      return this.#transactionFlushedLater(() => this.#settleBatch(entries, starts));
    });
  }

  /** Writes the ledger row, charges tenant and key and drops the reservation, in one transaction. */
  settle(entry: LedgerEntry, periods?: PeriodStarts): Promise<"settled" | "duplicate"> {
    return Promise.try(() => {
      assertLedgerEntry(entry);
      const starts = periodsOrNow(periods);
      return this.#transactionFlushedLater(() => this.#settleBatch([entry], starts)[0]);
    });
  }

  /**
   * Settles inside the caller's transaction: the ledger rows, then each tenant and key once, and
   * their spend in the budget periods `periods` (see migration 10).
   */
  #settleBatch(entries: LedgerEntry[], periods: PeriodStarts): Array<"settled" | "duplicate"> {
    // Per key of its tenant: what the rows cost and what their reservations held. A key named
    // with another tenant stays apart, to be refused below.
    const charges = new Map<
      string,
      { tenantId: string; apiKeyId: string; cost: number; released: number }
    >();
    const outcomes = entries.map((entry) => {
      const { traceId, tenantId, apiKeyId, costMicros: cost } = entry;
      const inserted = this.#get(
        `INSERT INTO ledger (trace_id, tenant_id, api_key_id, model, provider, input_tokens,
           output_tokens, cache_read_tokens, cache_write_tokens, cost_micros, estimated, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (trace_id) DO NOTHING RETURNING 1`,
        traceId,
        tenantId,
        apiKeyId,
        entry.model,
        entry.provider,
        entry.inputTokens,
        entry.outputTokens,
        entry.cacheReadTokens ?? 0,
        entry.cacheWriteTokens ?? 0,
        cost,
        entry.estimated ? 1 : 0,
        Date.now(),
      );
      if (inserted === undefined) return "duplicate" as const;
      const reservation = this.#get<ReleasedRow>(
        `DELETE FROM reservations WHERE trace_id = ?
         RETURNING tenant_id, api_key_id, amount_micros`,
        traceId,
      );
      if (
        reservation !== undefined &&
        (reservation.tenant_id !== tenantId || reservation.api_key_id !== apiKeyId)
      ) {
        throw new Error(
          `Cannot settle as the reservation of trace '${traceId}' belongs to another tenant or key`,
        );
      }
      const released = reservation?.amount_micros ?? 0;
      const id = `${tenantId} ${apiKeyId}`;
      const charge = charges.get(id) ?? { tenantId, apiKeyId, cost: 0, released: 0 };
      charge.cost += cost;
      charge.released += released;
      charges.set(id, charge);
      return "settled" as const;
    });
    // Each tenant's share, summed over its keys.
    const tenants = new Map<string, { cost: number; released: number }>();
    for (const { tenantId, cost, released } of charges.values()) {
      const tenant = tenants.get(tenantId) ?? { cost: 0, released: 0 };
      tenant.cost += cost;
      tenant.released += released;
      tenants.set(tenantId, tenant);
    }
    // The cost may exceed what was reserved: the balance then dips below the margin by that
    // request's own excess, which is charged rather than lost.
    for (const [tenantId, { cost, released }] of tenants) {
      const tenant = this.#get<{ budget_period: string | null }>(
        `UPDATE tenants SET balance_micros = balance_micros - ?,
           reserved_micros = reserved_micros - ? WHERE id = ? RETURNING budget_period`,
        cost,
        released,
        tenantId,
      );
      this.#addSpend("tenant", tenantId, null, cost, periods);
      if (tenant?.budget_period) {
        this.#addSpend("tenant", tenantId, budgetPeriodOf(tenant.budget_period), cost, periods);
      }
    }
    for (const { tenantId, apiKeyId, cost, released } of charges.values()) {
      const key = this.#get<{ budget_period: string | null }>(
        `UPDATE api_keys SET spent_micros = spent_micros + ?, reserved_micros = reserved_micros - ?
         WHERE id = ? AND tenant_id = ? RETURNING budget_period`,
        cost,
        released,
        apiKeyId,
        tenantId,
      );
      if (key === undefined) throw keyMismatch("settle", apiKeyId, tenantId);
      if (key.budget_period) {
        this.#addSpend("key", apiKeyId, budgetPeriodOf(key.budget_period), cost, periods);
      }
    }
    return outcomes;
  }

  // Inside the caller's transaction: the owner's spend in one budget period (null: lifetime).
  #addSpend(
    scope: "tenant" | "key",
    ownerId: string,
    period: BudgetSettings["budgetPeriod"],
    cost: number,
    periods: PeriodStarts,
  ): void {
    this.#run(
      `INSERT INTO budget_spend (scope, owner_id, period, period_start, spent_micros)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, owner_id, period, period_start)
       DO UPDATE SET spent_micros = spent_micros + excluded.spent_micros`,
      scope,
      ownerId,
      period ?? "lifetime",
      period === null ? 0 : periods[period],
      cost,
    );
  }

  /** Drops the reservation and gives its amount back to tenant and key; no-op when none. */
  release(traceId: string): Promise<void> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() => {
        const reservation = this.#get<ReleasedRow>(
          `DELETE FROM reservations WHERE trace_id = ?
           RETURNING tenant_id, api_key_id, amount_micros`,
          traceId,
        );
        if (reservation !== undefined) this.#giveBack([reservation]);
      })
    );
  }

  /** Releases every reservation that expired before `now`, in one transaction. */
  releaseExpiredReservations(now: Date): Promise<number> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() => {
        const released = this.#all<ReleasedRow>(
          `DELETE FROM reservations WHERE expires_at < ?
           RETURNING tenant_id, api_key_id, amount_micros`,
          now.getTime(),
        );
        this.#giveBack(released);
        return released.length;
      })
    );
  }

  /** Requests, tokens and cost of a tenant's ledger rows created in [since, until). */
  usageTotals(tenantId: string, range: { since?: Date; until?: Date }): Promise<UsageTotals> {
    return Promise.try(() => {
      const row = this.#get<Record<string, number>>(
        `SELECT count(*) AS requests, coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
           coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
           coalesce(sum(cost_micros), 0) AS cost_micros
         FROM ledger WHERE tenant_id = ? AND created_at >= ? AND created_at < ?`,
        tenantId,
        range.since?.getTime() ?? Number.MIN_SAFE_INTEGER,
        range.until?.getTime() ?? Number.MAX_SAFE_INTEGER,
      )!;
      return {
        requests: row.requests,
        inputTokens: row.input_tokens,
        outputTokens: row.output_tokens,
        cacheReadTokens: row.cache_read_tokens,
        cacheWriteTokens: row.cache_write_tokens,
        costMicros: row.cost_micros,
      };
    });
  }

  /** Ledger rows matching every field of `filter`, newest first. */
  settledTraceIds(traceIds: string[]): Promise<string[]> {
    return Promise.try(() => {
      if (traceIds.length === 0) return [];
      // json_each keeps one prepared statement whatever the number of ids.
      const rows = this.#all<{ trace_id: string }>(
        "SELECT trace_id FROM ledger WHERE trace_id IN (SELECT value FROM json_each(?))",
        JSON.stringify(traceIds),
      );
      return rows.map((row) => row.trace_id);
    });
  }

  fundsOf(
    tenantId: string,
    apiKeyId: string,
    periods?: PeriodStarts,
  ): Promise<AccountFunds | undefined> {
    return Promise.try(() => {
      const row = this.#get<AccountFundsRow<number>>(
        `SELECT ${accountFundsColumns(periodsOrNow(periods))}
         FROM tenants t JOIN api_keys k ON k.tenant_id = t.id WHERE t.id = ? AND k.id = ?`,
        tenantId,
        apiKeyId,
      );
      return row && {
        balanceMicros: row.balance_micros,
        reservedMicros: row.reserved_micros,
        tenantBudgetMicros: row.tenant_budget_micros,
        tenantBudgetPeriod: budgetPeriodOf(row.tenant_budget_period),
        tenantSpentMicros: row.tenant_spent_micros,
        budgetMicros: row.budget_micros,
        budgetPeriod: budgetPeriodOf(row.budget_period),
        spentMicros: row.spent_micros,
        keyReservedMicros: row.key_reserved_micros,
      };
    });
  }

  listBudgetUsage(filter: { periods: PeriodStarts; limit: number }): Promise<BudgetUsage[]> {
    return Promise.try(() => {
      assertPage({ offset: 0, limit: filter.limit });
      const query = `${budgetUsageQuery(periodsOrNow(filter.periods))} LIMIT ?`;
      return this.#all<BudgetUsageRow<number>>(query, filter.limit).map((row) => ({
        tenantId: row.tenant_id,
        apiKeyId: row.api_key_id,
        budgetMicros: row.budget_micros,
        budgetPeriod: budgetPeriodOf(row.budget_period),
        spentMicros: row.spent_micros,
        reservedMicros: row.reserved_micros,
      }));
    });
  }

  periodSpend(tenantId: string, periods: PeriodStarts): Promise<PeriodSpend> {
    return Promise.try(() => {
      const starts = periodsOrNow(periods);
      const tenant = this.#get<{ spent: number }>(
        `SELECT ${periodSpentSql("tenant", starts)} AS spent FROM tenants t WHERE t.id = ?`,
        tenantId,
      );
      const keys = this.#all<{ id: string; spent: number }>(
        `SELECT k.id, ${periodSpentSql("key", starts)} AS spent FROM api_keys k
         WHERE k.tenant_id = ?`,
        tenantId,
      );
      return {
        tenantMicros: tenant?.spent ?? 0,
        keyMicros: Object.fromEntries(keys.map((key) => [key.id, key.spent])),
      };
    });
  }

  listLedger(filter: LedgerFilter): Promise<LedgerRow[]> {
    return Promise.try(() => {
      const conditions: string[] = [];
      const params: SQLInputValue[] = [];
      if (filter.tenantId !== undefined) {
        conditions.push("tenant_id = ?");
        params.push(filter.tenantId);
      }
      if (filter.traceId !== undefined) {
        conditions.push("trace_id = ?");
        params.push(filter.traceId);
      }
      params.push(ledgerLimit(filter.limit));
      const sql = `SELECT ${LEDGER_COLUMNS} FROM ledger
        ${conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""}
        ORDER BY created_at DESC, id DESC LIMIT ?`;
      return this.#all<LedgerDbRow>(sql, ...params).map(toLedgerRow);
    });
  }

  // Runs inside the caller's transaction: one UPDATE per tenant and per key released.
  #giveBack(released: ReleasedRow[]): void {
    for (const row of released) {
      this.#run(
        "UPDATE tenants SET reserved_micros = reserved_micros - ? WHERE id = ?",
        row.amount_micros,
        row.tenant_id,
      );
      this.#run(
        "UPDATE api_keys SET reserved_micros = reserved_micros - ? WHERE id = ?",
        row.amount_micros,
        row.api_key_id,
      );
    }
  }

  /** Claims the key in one write transaction: free or expired rows are taken over in place. */
  claimIdempotencyKey(input: IdempotencyClaimInput): Promise<IdempotencyClaimResult> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() => {
        const now = input.now.getTime();
        const claimed = this.#get<{ token: string }>(
          `INSERT INTO idempotency_keys (tenant_id, api_key_id, idempotency_key, fingerprint,
             state, token, answer, expires_at, created_at)
           VALUES (?, ?, ?, ?, 'running', ?, NULL, ?, ?)
           ON CONFLICT (tenant_id, api_key_id, idempotency_key) DO UPDATE SET
             fingerprint = excluded.fingerprint, state = 'running', token = excluded.token,
             answer = NULL, expires_at = excluded.expires_at, created_at = excluded.created_at
           WHERE idempotency_keys.expires_at <= ?
           RETURNING token`,
          input.tenantId,
          input.apiKeyId,
          input.key,
          input.fingerprint,
          input.token,
          input.leaseExpiresAt.getTime(),
          now,
          now,
        );
        if (claimed !== undefined) return { outcome: "claimed" };
        const held = this.#get<IdempotencyDbRow>(
          `SELECT fingerprint, state, answer FROM idempotency_keys
           WHERE tenant_id = ? AND api_key_id = ? AND idempotency_key = ?`,
          input.tenantId,
          input.apiKeyId,
          input.key,
        )!;
        return idempotencyOutcome(held, input.fingerprint);
      })
    );
  }

  /** Moves the lease of a hold that is still this token's. */
  renewIdempotencyKey(hold: IdempotencyHold & { leaseExpiresAt: Date }): Promise<boolean> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() =>
        this.#changes(
          `UPDATE idempotency_keys SET expires_at = ?
           WHERE tenant_id = ? AND api_key_id = ? AND idempotency_key = ? AND token = ?
             AND state = 'running'`,
          hold.leaseExpiresAt.getTime(),
          ...holdParams(hold),
        ) > 0
      )
    );
  }

  /** Records the answer of a hold that is still this token's. */
  completeIdempotencyKey(
    hold: IdempotencyHold & { answer: Uint8Array | null; expiresAt: Date },
  ): Promise<boolean> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() =>
        this.#changes(
          `UPDATE idempotency_keys SET state = 'done', token = NULL, answer = ?, expires_at = ?
           WHERE tenant_id = ? AND api_key_id = ? AND idempotency_key = ? AND token = ?
             AND state = 'running'`,
          hold.answer,
          hold.expiresAt.getTime(),
          ...holdParams(hold),
        ) > 0
      )
    );
  }

  /** Deletes a hold that is still this token's. */
  releaseIdempotencyKey(hold: IdempotencyHold): Promise<void> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() => {
        this.#run(
          `DELETE FROM idempotency_keys
           WHERE tenant_id = ? AND api_key_id = ? AND idempotency_key = ? AND token = ?
             AND state = 'running'`,
          ...holdParams(hold),
        );
      })
    );
  }

  /** Deletes every row that expired by `now`. */
  deleteExpiredIdempotencyKeys(now: Date): Promise<number> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() =>
        this.#changes("DELETE FROM idempotency_keys WHERE expires_at <= ?", now.getTime())
      )
    );
  }

  /** Keeps responses in one transaction, each replacing one of its tenant's with the same id. */
  saveResponses(responses: StoredResponse[]): Promise<void> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() => {
        for (const response of responses) {
          this.#run(
            `INSERT INTO responses (${RESPONSE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, id) DO UPDATE SET
               previous_response_id = excluded.previous_response_id,
               input_items = excluded.input_items, response = excluded.response,
               created_at = excluded.created_at`,
            response.tenantId,
            response.id,
            response.previousResponseId,
            JSON.stringify(response.inputItems),
            JSON.stringify(response.response),
            response.createdAt.getTime(),
          );
        }
      })
    );
  }

  /** The tenant's response with this id. */
  getResponse(tenantId: string, id: string): Promise<StoredResponse | undefined> {
    return Promise.try(() => {
      const row = this.#get<ResponseRow<number>>(
        `SELECT ${RESPONSE_COLUMNS} FROM responses WHERE tenant_id = ? AND id = ?`,
        tenantId,
        id,
      );
      return row && toStoredResponse(row);
    });
  }

  /** Deletes the tenant's response with this id. */
  deleteResponse(tenantId: string, id: string): Promise<boolean> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() =>
        this.#changes("DELETE FROM responses WHERE tenant_id = ? AND id = ?", tenantId, id) > 0
      )
    );
  }

  /** Deletes every response created before `cutoff`. */
  deleteResponsesCreatedBefore(cutoff: Date): Promise<number> {
    return Promise.try(() =>
      this.#transactionFlushedLater(() =>
        this.#changes("DELETE FROM responses WHERE created_at < ?", cutoff.getTime())
      )
    );
  }

  /** Throws when the database file cannot be read. */
  ping(): Promise<void> {
    return Promise.try(() => {
      this.#get("SELECT 1");
    });
  }

  /**
   * fsyncs the write-ahead log, where the commits of #transactionFlushedLater wait, off the event
   * loop. Calls made before a sync starts share it; calls made during one share the next. Syncs
   * start at least {@linkcode MIN_FLUSH_INTERVAL_MS} apart: each costs the disk and the CPU the
   * same for one commit as for many, and those who wait for it are queue workers, not answers.
   */
  flushToDisk(): Promise<void> {
    if (this.#flushQueued) return this.#flushQueued;
    if (!this.#flushing) {
      this.#flushing = this.#syncSpaced().finally(() => this.#flushing = undefined);
      return this.#flushing;
    }
    if (!this.#syncStarted) return this.#flushing;
    this.#flushQueued = this.#flushing.catch(() => {}).then(() => {
      this.#flushQueued = undefined;
      return this.flushToDisk();
    });
    return this.#flushQueued;
  }

  async #syncSpaced(): Promise<void> {
    this.#syncStarted = false;
    const wait = this.#lastSyncEndedAt + MIN_FLUSH_INTERVAL_MS - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    // Closing the database checkpoints the log into the file and syncs it.
    if (this.#closed) return;
    this.#syncStarted = true;
    try {
      await this.#syncLog();
    } finally {
      this.#lastSyncEndedAt = performance.now();
    }
  }

  async #syncLog(): Promise<void> {
    if (!this.#log) {
      try {
        // Kept open: SQLite keeps the same file (it truncates, never replaces it) while open.
        this.#log = await Deno.open(this.#logPath, { read: true });
      } catch (error) {
        // No log file: nothing was written since the last checkpoint, which syncs what it copies.
        if (error instanceof Deno.errors.NotFound) return;
        throw error;
      }
    }
    await this.#log.syncData();
  }

  /** Closes the database file; later calls do nothing. */
  close(): Promise<void> {
    return Promise.try(() => {
      if (this.#closed) return;
      this.#closed = true;
      this.#log?.close();
      this.#log = undefined;
      this.#statements.clear();
      this.#db.close();
    });
  }

  // An empty change list reads the row instead, so an empty patch answers like any other.
  #update<T>(table: keyof typeof COLUMNS, id: string, changes: Change[]): T | undefined {
    const columns = COLUMNS[table];
    if (changes.length === 0) {
      return this.#get<T>(`SELECT ${columns} FROM ${table} WHERE id = ?`, id);
    }
    const assignments = changes.map(([column]) => `${column} = ?`).join(", ");
    return this.#get<T>(
      `UPDATE ${table} SET ${assignments} WHERE id = ? RETURNING ${columns}`,
      ...changes.map(([, value]) => value),
      id,
    );
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.#statement(sql).get(...params) as T | undefined;
  }

  #all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.#statement(sql).all(...params) as T[];
  }

  #run(sql: string, ...params: SQLInputValue[]): void {
    this.#statement(sql).run(...params);
  }

  #changes(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  // IMMEDIATE takes the write lock up front, so two processes never both read then both write.
  // Callers must stay synchronous inside: an await here would hold the lock across other work.
  // The statements of transaction control are prepared once, like the others, not parsed again
  // on each of the several transactions a request causes.
  /** Runs `fn` in one write transaction that is on disk when it returns. */
  #transaction<T>(fn: () => T): T {
    this.#run("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#run("COMMIT");
      return result;
    } catch (error) {
      this.#run("ROLLBACK");
      throw error;
    }
  }

  /**
   * Runs `fn` in one write transaction that commits without waiting for the disk: it survives
   * the process crashing at once, and the machine crashing after {@linkcode flushToDisk}. SQLite's
   * calls block the event loop, so an fsync per commit on the request path (reservations) or in
   * the workers (settlements, audit) would stall every request in flight while it lasts.
   */
  #transactionFlushedLater<T>(fn: () => T): T {
    this.#run("PRAGMA synchronous = NORMAL");
    try {
      return this.#transaction(fn);
    } finally {
      this.#run("PRAGMA synchronous = FULL");
    }
  }
}

interface IdempotencyDbRow {
  fingerprint: string;
  state: "running" | "done";
  answer: Uint8Array | null;
}

function holdParams(hold: IdempotencyHold): SQLInputValue[] {
  return [hold.tenantId, hold.apiKeyId, hold.key, hold.token];
}

// The claim's insert found a row alive: another request's hold, or a finished request's record.
function idempotencyOutcome(row: IdempotencyDbRow, fingerprint: string): IdempotencyClaimResult {
  if (row.fingerprint !== fingerprint) return { outcome: "mismatch" };
  if (row.state === "running") return { outcome: "running" };
  return { outcome: "done", answer: row.answer };
}

function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    balanceMicros: row.balance_micros,
    reservedMicros: row.reserved_micros,
    rpmLimit: row.rpm_limit,
    tpmLimit: row.tpm_limit,
    models: modelsOf(row.models),
    budgetMicros: row.budget_micros,
    budgetPeriod: budgetPeriodOf(row.budget_period),
    createdAt: new Date(row.created_at),
  };
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    rpmLimit: row.rpm_limit,
    tpmLimit: row.tpm_limit,
    models: modelsOf(row.models),
    budgetMicros: row.budget_micros,
    budgetPeriod: budgetPeriodOf(row.budget_period),
    spentMicros: row.spent_micros,
    reservedMicros: row.reserved_micros,
    requireSignature: row.require_signature === 1,
    signingSecretSealed: row.signing_secret_sealed,
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  };
}

function toAuditRecord(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    createdAt: new Date(row.created_at),
    actor: row.actor,
    action: row.action,
    tenantId: row.tenant_id,
    target: row.target,
    traceId: row.trace_id,
    details: JSON.parse(row.details),
  };
}

function toLedgerRow(row: LedgerDbRow): LedgerRow {
  return {
    id: row.id,
    traceId: row.trace_id,
    tenantId: row.tenant_id,
    apiKeyId: row.api_key_id,
    model: row.model,
    provider: row.provider,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cacheReadTokens: row.cache_read_tokens,
    cacheWriteTokens: row.cache_write_tokens,
    costMicros: row.cost_micros,
    estimated: row.estimated === 1,
    createdAt: new Date(row.created_at),
  };
}
