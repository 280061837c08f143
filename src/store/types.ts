import type { BudgetPeriod, PeriodStarts } from "../core/mod.ts";

/** Rate limits of a tenant or a key; null means the gateway's default applies. */
export interface LimitSettings {
  /** Requests per minute. */
  rpmLimit: number | null;
  /** Tokens (prompt and completion) per minute. */
  tpmLimit: number | null;
}

/** Which public models the requests of a tenant or a key may name. */
export interface ModelSettings {
  /**
   * Public model names and prefixes ending in `*` (`gpt-4o*`); null for every model, an empty
   * list for none. A key's list and its tenant's both apply.
   */
  models: readonly string[] | null;
}

/**
 * A spend budget that may start afresh every day, week or month (in the gateway's budget time
 * zone). Spend counts in the period in which a request is settled; a period is kept by its start,
 * so a new period is a new counter and nothing has to be reset.
 */
export interface BudgetSettings {
  /** The most to spend per period (or ever, without a period), in micro-dollars; null for none. */
  budgetMicros: number | null;
  /** How often the budget resets; null for a budget over the whole life of its owner. */
  budgetPeriod: BudgetPeriod | null;
}

/** A customer of the gateway: the owner of API keys and of a balance. */
export interface Tenant extends LimitSettings, ModelSettings, BudgetSettings {
  id: string;
  name: string;
  /** Balance in integer micro-dollars. */
  balanceMicros: number;
  /** Micro-dollars held by open reservations: `balanceMicros − reservedMicros` is available. */
  reservedMicros: number;
  createdAt: Date;
}

/** An API key as stored: never the secret itself, only its hash and a short prefix to show. */
export interface ApiKey extends LimitSettings, ModelSettings, BudgetSettings {
  id: string;
  tenantId: string;
  name: string;
  /** The first characters of the secret, to tell keys apart in listings. */
  prefix: string;
  /** Micro-dollars this key has been charged so far (the sum of its ledger costs). */
  spentMicros: number;
  /** Micro-dollars held by this key's open reservations. */
  reservedMicros: number;
  /** Whether requests with this key must carry an HMAC signature. */
  requireSignature: boolean;
  /** The signing secret, encrypted with the master key; null when none was made. */
  signingSecretSealed: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

/** A key found by its hash, with its tenant, as authentication needs both. */
export interface Credential {
  key: ApiKey;
  tenant: Tenant;
}

/** The settings a key is created with, beside its identity. */
export interface ApiKeySettings
  extends Partial<LimitSettings>, Partial<ModelSettings>, Partial<BudgetSettings> {
  requireSignature?: boolean;
  signingSecretSealed?: string | null;
}

/** A change to a tenant: only the fields given are changed; null clears a limit, budget or models. */
export interface TenantPatch
  extends Partial<LimitSettings>, Partial<ModelSettings>, Partial<BudgetSettings> {
  name?: string;
}

/** A change to a key: only the fields given are changed; null clears a limit, budget or models. */
export interface ApiKeyPatch
  extends Partial<LimitSettings>, Partial<ModelSettings>, Partial<BudgetSettings> {
  name?: string;
}

/** One admin action or request, as written to the audit table. */
export interface AuditEntry {
  /** Who acted: `admin`, or the id of the API key. */
  actor: string;
  action: string;
  tenantId: string | null;
  /** The id of what was acted upon. */
  target: string | null;
  traceId: string | null;
  details: Record<string, unknown>;
}

/** An audit entry as read back. */
export interface AuditRecord extends AuditEntry {
  id: number;
  createdAt: Date;
}

/** Filter for {@linkcode Store.listAudit}; every field narrows the result. */
export interface AuditFilter {
  tenantId?: string;
  /** Who acted: `admin`, or an API key's id for its requests. */
  actor?: string;
  traceId?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

/** One billed request, as settled into the ledger. Money in integer micro-dollars. */
export interface LedgerEntry {
  /** The request's trace id; the ledger holds at most one row per trace id. */
  traceId: string;
  tenantId: string;
  apiKeyId: string;
  model: string;
  provider: string;
  /** Prompt tokens, all of them: those read from and written to a prompt cache included. */
  inputTokens: number;
  outputTokens: number;
  /** Of `inputTokens`, those read from a prompt cache; 0 when unset. */
  cacheReadTokens?: number;
  /** Of `inputTokens`, those written to a prompt cache; 0 when unset. */
  cacheWriteTokens?: number;
  costMicros: number;
  /** Whether the token counts were estimated because the upstream never reported usage. */
  estimated: boolean;
}

/** A ledger entry as read back. */
export interface LedgerRow extends LedgerEntry {
  id: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  createdAt: Date;
}

/** What {@linkcode Store.reserve} holds for one request until it is settled or released. */
export interface ReservationInput {
  traceId: string;
  tenantId: string;
  apiKeyId: string;
  /** The most the request is expected to cost, in micro-dollars; positive. */
  amountMicros: number;
  /** How far below zero (tenant) or above its budget (key) a reservation may go; zero or more. */
  marginMicros: number;
  /** When the sweeper may release the reservation of a request that died. */
  expiresAt: Date;
  /** The budget periods the reservation is checked in; default those holding now, in UTC. */
  periods?: PeriodStarts;
}

/**
 * A reservation's outcome as a database function or a Lua script names it (`ok`, `tenant_balance`,
 * `tenant_budget`, `key_budget`, `duplicate`); undefined for any other answer.
 */
export function reserveResultOf(outcome: unknown): ReserveResult | undefined {
  switch (outcome) {
    case "ok":
      return { ok: true };
    case "tenant_balance":
    case "tenant_budget":
    case "key_budget":
    case "duplicate":
      return { ok: false, reason: outcome };
    default:
      return undefined;
  }
}

/** Why a reservation was refused: which money lacks, or a trace id already used. */
export type RefusalReason = "tenant_balance" | "tenant_budget" | "key_budget" | "duplicate";

/** The outcome of {@linkcode Store.reserve}: ok, or which of tenant and key lacks funds. */
export type ReserveResult =
  | { ok: true }
  | { ok: false; reason: RefusalReason };

/** A tenant's money and one of its keys', as the store has them now (see {@linkcode Store.fundsOf}). */
export interface AccountFunds {
  balanceMicros: number;
  /** What the store's own reservations hold of the balance. */
  reservedMicros: number;
  /** The tenant's budget, or null when it has none. */
  tenantBudgetMicros: number | null;
  tenantBudgetPeriod: BudgetPeriod | null;
  /** What the tenant spent in its budget's current period (ever, without a period). */
  tenantSpentMicros: number;
  /** The key's budget, or null when it has none. */
  budgetMicros: number | null;
  budgetPeriod: BudgetPeriod | null;
  /** What the key spent in its budget's current period (ever, without a period). */
  spentMicros: number;
  /** What the store's own reservations hold of the key's budget. */
  keyReservedMicros: number;
}

/** Totals of a tenant's ledger over a time range. */
export interface UsageTotals {
  requests: number;
  /** Prompt tokens, cached ones included. */
  inputTokens: number;
  outputTokens: number;
  /** Of `inputTokens`, those read from a prompt cache. */
  cacheReadTokens: number;
  /** Of `inputTokens`, those written to a prompt cache. */
  cacheWriteTokens: number;
  costMicros: number;
}

/** Filter for {@linkcode Store.listLedger}; every field narrows the result. */
export interface LedgerFilter {
  tenantId?: string;
  traceId?: string;
  limit?: number;
}

/** A page of a listing: skip `offset` rows, return at most `limit`. */
export interface Page {
  offset: number;
  limit: number;
}

/** What {@linkcode Store.listNearQuota} looks for. */
export interface NearQuotaFilter {
  /** Tenants whose available balance (balance − reserved) is below this, in micro-dollars. */
  belowMicros: number;
  /** Keys whose spend plus reservations reach this share of their budget, above 0 and up to 1. */
  keyBudgetRatio: number;
  /** At most this many tenants, and this many keys. */
  limit: number;
}

/** A key near its budget, with its tenant's name to show beside it. */
export interface KeyNearBudget extends ApiKey {
  tenantName: string;
}

/** One budget of a tenant (`apiKeyId` null) or of a key, and its current period's use. */
export interface BudgetUsage extends BudgetSettings {
  tenantId: string;
  apiKeyId: string | null;
  budgetMicros: number;
  /** Spent in the current period (ever, without a period). */
  spentMicros: number;
  /** Held by the store's own open reservations. */
  reservedMicros: number;
}

/** What a tenant and each of its keys spent in their budgets' current periods. */
export interface PeriodSpend {
  tenantMicros: number;
  /** By key id, every key of the tenant, revoked ones included. */
  keyMicros: Record<string, number>;
}

/** Tenants and keys about to run out of money, the least left first. */
export interface NearQuota {
  tenants: Tenant[];
  /** Keys not revoked whose budget is nearly used up. */
  keys: KeyNearBudget[];
}

/**
 * An `Idempotency-Key` as the store files it: it belongs to the API key that sent it, within that
 * key's tenant, so the same string from two keys or two tenants names two different requests.
 */
export interface IdempotencyKeyRef {
  tenantId: string;
  apiKeyId: string;
  key: string;
}

/** One request's hold on an idempotency key; only its holder may renew, complete or release it. */
export interface IdempotencyHold extends IdempotencyKeyRef {
  /** Random, made by the holder when it claims the key. */
  token: string;
}

/** What {@linkcode Store.claimIdempotencyKey} is asked. */
export interface IdempotencyClaimInput extends IdempotencyHold {
  /** Tells the request the key was first used with from any other. */
  fingerprint: string;
  now: Date;
  /** When the hold lapses unless renewed (its process died); the key is then free again. */
  leaseExpiresAt: Date;
}

/**
 * One stored Responses API response (`store: true`), owned by its tenant: what the client sent
 * as input and what came back, JSON as the API has it, to rebuild the conversation of a later
 * `previous_response_id` and answer `GET /v1/responses/{id}`.
 */
export interface StoredResponse {
  tenantId: string;
  id: string;
  previousResponseId: string | null;
  /** The request's input items, each with its `id`. */
  inputItems: Array<Record<string, unknown>>;
  /** The Response object as the client got it. */
  response: Record<string, unknown>;
  createdAt: Date;
}

/**
 * The outcome of a claim: the key was free and is now held (`claimed`); another request with the
 * same fingerprint holds it (`running`) or finished it (`done`, with its recorded answer, null when
 * the answer was not kept); or it was used with another fingerprint (`mismatch`).
 */
export type IdempotencyClaimResult =
  | { outcome: "claimed" }
  | { outcome: "running" }
  | { outcome: "mismatch" }
  | { outcome: "done"; answer: Uint8Array | null };

/**
 * The gateway's durable state. PostgreSQL and SQLite implement it and one contract suite tests
 * both; everything above it sees only this interface.
 */
export interface Store {
  /** Which backend this is, for readiness checks and logs. */
  readonly kind: "postgres" | "sqlite";
  /** Applies the embedded migrations that have not been applied yet. Safe to call concurrently. */
  migrate(): Promise<void>;
  /** Creates a tenant with a starting balance and optional limits, budget and models. */
  createTenant(
    input:
      & { name: string; balanceMicros: number }
      & Partial<LimitSettings & ModelSettings & BudgetSettings>,
  ): Promise<Tenant>;
  /** Changes a tenant's name, limits, budget or models; undefined when there is no such tenant. */
  updateTenant(id: string, patch: TenantPatch): Promise<Tenant | undefined>;
  /** The tenant, or undefined when there is none with that id. */
  getTenant(id: string): Promise<Tenant | undefined>;
  /** How many tenants exist. */
  countTenants(): Promise<number>;
  /** A page of tenants, oldest first. */
  listTenants(page: Page): Promise<Tenant[]>;
  /**
   * Tenants with little balance left and keys with little lifetime budget left, for operators to
   * see (budgets with a period are in {@linkcode Store.listBudgetUsage}).
   */
  listNearQuota(filter: NearQuotaFilter): Promise<NearQuota>;
  /**
   * The budgets of tenants and of keys not revoked, the most used (spent in the current period
   * over the budget) first, at most `limit`.
   */
  listBudgetUsage(filter: { periods: PeriodStarts; limit: number }): Promise<BudgetUsage[]>;
  /** What a tenant and its keys spent in their budgets' current periods. */
  periodSpend(tenantId: string, periods: PeriodStarts): Promise<PeriodSpend>;
  /**
   * Adds to a tenant's balance atomically; undefined when there is no such tenant, or when the
   * balance would pass `maxBalanceMicros` (then it is left as it was).
   */
  addCredits(
    tenantId: string,
    amountMicros: number,
    options?: { maxBalanceMicros?: number },
  ): Promise<Tenant | undefined>;
  /** Stores a new key by the hash of its secret. */
  createApiKey(
    input: { tenantId: string; name: string; keyHash: string; prefix: string } & ApiKeySettings,
  ): Promise<ApiKey>;
  /** Changes a key's name, limits, budget or models; undefined when there is no such key. */
  updateApiKey(id: string, patch: ApiKeyPatch): Promise<ApiKey | undefined>;
  /** The tenant's keys, revoked ones included, oldest first. */
  listApiKeys(tenantId: string): Promise<ApiKey[]>;
  /** The key whose secret hashes to `keyHash`, revoked or not, with its tenant (one query). */
  findCredential(keyHash: string): Promise<Credential | undefined>;
  /** Marks a key revoked and returns it; undefined when there is no such key. Revoking twice keeps the first time. */
  revokeApiKey(id: string): Promise<ApiKey | undefined>;
  /** Appends entries to the audit table. */
  writeAudit(entries: AuditEntry[]): Promise<void>;
  /** Audit records, newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]>;
  /** Reserves `amountMicros` for one request atomically (tenant and key together): ok, or which one lacks funds. A traceId names one request: one already reserved or settled is refused as "duplicate" without reserving; a refusal is not recorded, so a retry of a refused traceId is judged afresh. */
  reserve(input: ReservationInput): Promise<ReserveResult>;
  /** Settles a request in ONE transaction: writes its ledger row (unique by traceId), deducts the cost from the tenant's balance and adds it to the key's spend, and releases its reservation if any. Idempotent: settling the same traceId twice charges once and returns "duplicate". The cost counts in the budget periods `periods` (default those holding now, in UTC). */
  settle(entry: LedgerEntry, periods?: PeriodStarts): Promise<"settled" | "duplicate">;
  /**
   * Reserves for many requests, as if one by one, in one transaction, so that concurrent
   * requests share a commit. When any item fails (an
   * unknown tenant, say) it throws; reserving is idempotent per trace id, so the caller then
   * reserves the items singly to learn each one's outcome.
   */
  reserveMany(inputs: ReservationInput[]): Promise<ReserveResult[]>;
  /** Settles many requests like {@linkcode Store.settle}, in one transaction; throws like `reserveMany`. */
  settleMany(
    entries: LedgerEntry[],
    periods?: PeriodStarts,
  ): Promise<Array<"settled" | "duplicate">>;
  /** Releases a reservation without charging (the request failed before any usage); no-op when none. */
  release(traceId: string): Promise<void>;
  /** Releases reservations whose expiresAt is before `now` (requests that died); returns how many. */
  releaseExpiredReservations(now: Date): Promise<number>;
  /** Usage totals of a tenant over [since, until) (all time when absent). */
  usageTotals(tenantId: string, range: { since?: Date; until?: Date }): Promise<UsageTotals>;
  /** Ledger rows of a tenant, newest first (limit default 100). */
  listLedger(filter: LedgerFilter): Promise<LedgerRow[]>;
  /** Which of `traceIds` have a ledger row (were settled), in no particular order. */
  settledTraceIds(traceIds: string[]): Promise<string[]>;
  /**
   * The tenant's balance and budget and its key's budget in one read, spend in the budget periods
   * `periods` (default those holding now, in UTC); undefined when either is missing.
   */
  fundsOf(
    tenantId: string,
    apiKeyId: string,
    periods?: PeriodStarts,
  ): Promise<AccountFunds | undefined>;
  /**
   * Claims an idempotency key atomically: a key that is free, or whose hold or record expired by
   * `now`, becomes held by `token` until `leaseExpiresAt`; otherwise says who has it.
   */
  claimIdempotencyKey(input: IdempotencyClaimInput): Promise<IdempotencyClaimResult>;
  /** Moves the hold's lease to `leaseExpiresAt`; false when the hold is no longer this one's. */
  renewIdempotencyKey(hold: IdempotencyHold & { leaseExpiresAt: Date }): Promise<boolean>;
  /**
   * Turns the hold into the key's record, kept until `expiresAt`, with the answer (null: the
   * request succeeded but its answer was not kept); false when the hold is no longer this one's.
   */
  completeIdempotencyKey(
    hold: IdempotencyHold & { answer: Uint8Array | null; expiresAt: Date },
  ): Promise<boolean>;
  /** Frees a held key (its request failed) so that a retry runs afresh; no-op when not held. */
  releaseIdempotencyKey(hold: IdempotencyHold): Promise<void>;
  /** Deletes records and lapsed holds that expired by `now`; returns how many. */
  deleteExpiredIdempotencyKeys(now: Date): Promise<number>;
  /** Keeps responses in one commit, each replacing one of its tenant's with the same id. */
  saveResponses(responses: StoredResponse[]): Promise<void>;
  /** The tenant's response with this id; another tenant's is not found. */
  getResponse(tenantId: string, id: string): Promise<StoredResponse | undefined>;
  /** Deletes the tenant's response with this id; false when it has none. */
  deleteResponse(tenantId: string, id: string): Promise<boolean>;
  /** Deletes every response created before `cutoff` (the retention); returns how many. */
  deleteResponsesCreatedBefore(cutoff: Date): Promise<number>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  /**
   * Resolves once every write committed before the call would survive the machine crashing.
   * Reservations, settlements and audit records may commit before they reach the disk (see the
   * SQLite store); a queue handler that wrote them calls this before its job is acknowledged.
   */
  flushToDisk(): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
