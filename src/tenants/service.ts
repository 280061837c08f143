import {
  type ApiKeyAuthenticator,
  generateApiKey,
  generateSigningSecret,
  type SecretBox,
} from "../auth/mod.ts";
import type { AuditWriter } from "../audit/mod.ts";
import type { Funds } from "../billing/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import {
  badRequest,
  BudgetCalendar,
  type BudgetPeriod,
  MAX_MICROS,
  MAX_USD,
  notFound,
} from "../core/mod.ts";
import type {
  ApiKey,
  ApiKeyPatch,
  ApiKeySettings,
  AuditFilter,
  AuditRecord,
  BudgetSettings,
  LimitSettings,
  ModelSettings,
  Page,
  Store,
  Tenant,
  TenantPatch,
  UsageTotals,
} from "../store/mod.ts";

/** A key just made: the stored record and its secrets, which are never available again. */
export interface CreatedApiKey {
  key: ApiKey;
  secret: string;
  /** The HMAC signing secret, for keys that require signatures. */
  signingSecret?: string;
}

/** A budget's current period and what was spent in it. */
export interface BudgetStatus {
  period: BudgetPeriod | null;
  /** Spent in the current period, or ever for a budget without a period. */
  spentMicros: number;
  /** When the current period began; null without a period. */
  periodStart: Date | null;
  /** When the next period begins; null without a period. */
  nextResetAt: Date | null;
}

/**
 * Tenants, their keys and their balances, as the internal API manages them. Every change is
 * written to the audit table with the admin as its actor.
 */
export class TenantService {
  readonly #store: Store;
  readonly #funds: Pick<Funds, "credited" | "budgetChanged"> | undefined;
  readonly #logger: GatewayLogger | undefined;
  readonly #authenticator: ApiKeyAuthenticator;
  readonly #box: SecretBox | undefined;
  readonly #audit: AuditWriter;
  readonly #calendar: BudgetCalendar;

  constructor(
    options: {
      store: Store;
      /** Told of top-ups and budget changes, when reservations are held outside the store. */
      funds?: Pick<Funds, "credited" | "budgetChanged">;
      logger?: GatewayLogger;
      authenticator: ApiKeyAuthenticator;
      audit: AuditWriter;
      box?: SecretBox;
      /** The budget periods spend is shown for; default UTC on the system clock. */
      calendar?: BudgetCalendar;
    },
  ) {
    this.#calendar = options.calendar ?? new BudgetCalendar();
    this.#store = options.store;
    this.#funds = options.funds;
    this.#logger = options.logger;
    this.#authenticator = options.authenticator;
    this.#box = options.box;
    this.#audit = options.audit;
  }

  /** A tenant's usage over [since, until), all time by default. */
  async usage(tenantId: string, range: { since?: Date; until?: Date }): Promise<UsageTotals> {
    await this.getTenant(tenantId);
    return await this.#store.usageTotals(tenantId, range);
  }

  /** Audit records matching the filter, newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return this.#store.listAudit(filter);
  }

  /** What the tenant spent in its budget's current period, and when that began and ends. */
  async tenantBudget(tenant: Tenant): Promise<BudgetStatus> {
    const spend = await this.#store.periodSpend(tenant.id, this.#calendar.starts());
    return this.#status(tenant.budgetPeriod, spend.tenantMicros);
  }

  /** The same for each of `keys`, all of the tenant `tenantId`, in their order. */
  async keyBudgets(tenantId: string, keys: ApiKey[]): Promise<BudgetStatus[]> {
    const spend = await this.#store.periodSpend(tenantId, this.#calendar.starts());
    return keys.map((key) => this.#status(key.budgetPeriod, spend.keyMicros[key.id] ?? 0));
  }

  #status(period: BudgetPeriod | null, spentMicros: number): BudgetStatus {
    const window = this.#calendar.window(period);
    return {
      period,
      spentMicros,
      periodStart: period === null ? null : new Date(window.start),
      nextResetAt: window.nextResetAt === null ? null : new Date(window.nextResetAt),
    };
  }

  /**
   * Creates a tenant with a starting balance in micro-dollars and optional limits, budget and
   * models.
   */
  async createTenant(
    input:
      & { name: string; balanceMicros: number }
      & Partial<LimitSettings & ModelSettings & BudgetSettings>,
    traceId: string,
  ): Promise<Tenant> {
    const tenant = await this.#store.createTenant(input);
    this.#record("tenant.create", tenant.id, tenant.id, traceId, { ...input });
    return tenant;
  }

  /**
   * Changes a tenant's name, limits, budget or models; every instance sees them within the cache
   * TTL, and a budget at the next reservation.
   */
  async updateTenant(id: string, patch: TenantPatch, traceId: string): Promise<Tenant> {
    const tenant = await this.#store.updateTenant(id, withoutUndefined(patch));
    if (!tenant) throw notFound(`No tenant with id '${id}'`, "tenant_not_found");
    this.#authenticator.forgetTenant(id);
    if (changesBudget(patch)) await this.#budgetChanged(id);
    this.#record("tenant.update", id, id, traceId, { ...patch });
    return tenant;
  }

  /** The tenant; 404 when there is none. */
  async getTenant(id: string): Promise<Tenant> {
    const tenant = await this.#store.getTenant(id);
    if (!tenant) throw notFound(`No tenant with id '${id}'`, "tenant_not_found");
    return tenant;
  }

  /** A page of tenants, oldest first, and how many there are in all. */
  async listTenants(page: Page): Promise<{ tenants: Tenant[]; total: number }> {
    const [tenants, total] = await Promise.all([
      this.#store.listTenants(page),
      this.#store.countTenants(),
    ]);
    return { tenants, total };
  }

  /** Whether any tenant exists yet. */
  async hasTenants(): Promise<boolean> {
    return (await this.#store.countTenants()) > 0;
  }

  /**
   * Adds credits to a tenant's balance; 400 when that would take it past {@linkcode MAX_USD},
   * checked in the same atomic step as the addition.
   */
  async addCredits(tenantId: string, amountMicros: number, traceId: string): Promise<Tenant> {
    const tenant = await this.#store.addCredits(tenantId, amountMicros, {
      maxBalanceMicros: MAX_MICROS,
    });
    if (!tenant) {
      await this.getTenant(tenantId);
      throw badRequest(
        `The credit would take the balance past ${MAX_USD} USD, the most a tenant may hold`,
        "balance_limit_exceeded",
        "amount_usd",
      );
    }
    await this.#funds?.credited(tenantId, amountMicros).catch((error) => {
      // The credit is in the store; answering an error would invite a second one.
      this.#logger?.error("funds_credit_failed", {
        tenant_id: tenantId,
        amount_micros: amountMicros,
        error,
      });
    });
    this.#record("tenant.credit", tenantId, tenantId, traceId, {
      amount_micros: amountMicros,
      balance_micros: tenant.balanceMicros,
    });
    return tenant;
  }

  /** Makes a key for a tenant; the secret is returned once and only its hash is kept. */
  async createApiKey(
    tenantId: string,
    input: { name: string } & Omit<ApiKeySettings, "signingSecretSealed">,
    traceId: string,
  ): Promise<CreatedApiKey> {
    await this.getTenant(tenantId);
    const signingSecret = input.requireSignature ? generateSigningSecret() : undefined;
    let signingSecretSealed: string | undefined;
    if (signingSecret !== undefined) {
      if (!this.#box) {
        throw badRequest(
          "Keys that require signatures need a master key: set SIGNING_MASTER_KEY",
          "signing_unavailable",
          "require_signature",
        );
      }
      signingSecretSealed = await this.#box.encrypt(signingSecret);
    }
    const generated = generateApiKey();
    const key = await this.#store.createApiKey({
      ...input,
      signingSecretSealed,
      tenantId,
      keyHash: generated.hash,
      prefix: generated.prefix,
    });
    this.#record("api_key.create", tenantId, key.id, traceId, { ...input });
    return { key, secret: generated.secret, signingSecret };
  }

  /** Changes a key's name, limits, budget or models; all instances see them within the cache TTL. */
  async updateApiKey(keyId: string, patch: ApiKeyPatch, traceId: string): Promise<ApiKey> {
    const key = await this.#store.updateApiKey(keyId, withoutUndefined(patch));
    if (!key) throw notFound(`No API key with id '${keyId}'`, "api_key_not_found");
    this.#authenticator.forget(keyId);
    if (changesBudget(patch)) await this.#budgetChanged(key.tenantId, keyId);
    this.#record("api_key.update", key.tenantId, keyId, traceId, { ...patch });
    return key;
  }

  /** A tenant's keys, without secrets. */
  async listApiKeys(tenantId: string): Promise<ApiKey[]> {
    await this.getTenant(tenantId);
    return await this.#store.listApiKeys(tenantId);
  }

  /** Revokes a key; this instance stops accepting it at once, others within the cache TTL. */
  async revokeApiKey(keyId: string, traceId: string): Promise<ApiKey> {
    const key = await this.#store.revokeApiKey(keyId);
    if (!key) throw notFound(`No API key with id '${keyId}'`, "api_key_not_found");
    this.#authenticator.forget(keyId);
    this.#record("api_key.revoke", key.tenantId, keyId, traceId, {});
    return key;
  }

  // The budget is in the store; answering an error would invite the change again.
  async #budgetChanged(tenantId: string, apiKeyId?: string): Promise<void> {
    await this.#funds?.budgetChanged(tenantId, apiKeyId).catch((error) => {
      this.#logger?.error("funds_budget_change_failed", {
        tenant_id: tenantId,
        api_key_id: apiKeyId,
        error,
      });
    });
  }

  #record(
    action: string,
    tenantId: string,
    target: string,
    traceId: string,
    details: Record<string, unknown>,
  ): void {
    this.#audit.record({ actor: "admin", action, tenantId, target, traceId, details });
  }
}

/** The patch without fields set to undefined: those mean "unchanged", while null clears. */
function withoutUndefined<T extends object>(patch: T): T {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as T;
}

function changesBudget(patch: Partial<BudgetSettings>): boolean {
  return patch.budgetMicros !== undefined || patch.budgetPeriod !== undefined;
}
