/**
 * @module
 * The gateway's durable state behind one {@linkcode Store} interface, on PostgreSQL or SQLite,
 * with the migrations embedded in code.
 */
import type { Store } from "./types.ts";
import type { PostgresStore } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";

export { LOCK_FILE, lockFolder } from "./folder_lock.ts";

export type {
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
  IdempotencyKeyRef,
  KeyNearBudget,
  LedgerEntry,
  LedgerFilter,
  LedgerRow,
  LimitSettings,
  ModelSettings,
  NearQuota,
  NearQuotaFilter,
  Page,
  PeriodSpend,
  RefusalReason,
  ReservationInput,
  ReserveResult,
  Store,
  StoredResponse,
  Tenant,
  TenantPatch,
  UsageTotals,
} from "./types.ts";
export { type Migration, MIGRATIONS } from "./migrations.ts";
export { reserveResultOf } from "./types.ts";
export type { PostgresStore, PostgresStoreOptions } from "./postgres.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
// The writer's worker side is imported by main.ts from the module itself, which loads no more.
export {
  type BackgroundWrites,
  SqliteWriter,
  type SqliteWriterOptions,
  type SqliteWriterPlacement,
  usesSqliteWorker,
} from "./sqlite_writer.ts";

/** Where {@linkcode openStore} keeps the gateway's state. */
export interface OpenStoreOptions {
  /** A `postgres://` URL; when set (and not empty) the store is PostgreSQL. */
  databaseUrl?: string;
  /** The folder for the SQLite file when there is no database URL. */
  dataDir: string;
}

/** Opens PostgreSQL when a database URL is given, else SQLite in `dataDir`, and migrates it. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const store: Store = options.databaseUrl
    ? await openPostgres(options.databaseUrl)
    : new SqliteStore({ dataDir: options.dataDir });
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

// PostgreSQL's client is loaded only by a gateway that uses it: an embedded one keeps its heap.
async function openPostgres(url: string): Promise<PostgresStore> {
  const { PostgresStore } = await import("./postgres.ts");
  return new PostgresStore({ url });
}
