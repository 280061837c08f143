import {
  type ApiKeyAuthenticator,
  generateApiKey,
  generateSigningSecret,
  type SecretBox,
} from "../auth/mod.ts";
import type { AuditWriter } from "../audit/mod.ts";
import type { Funds } from "../billing/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import { badRequest, notFound } from "../core/mod.ts";
import type {
  ApiKey,
  ApiKeyPatch,
  ApiKeySettings,
  AuditFilter,
  AuditRecord,
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

  constructor(
    options: {
      store: Store;
      /** Told of top-ups and budget changes, when reservations are held outside the store. */
      funds?: Pick<Funds, "credited" | "budgetChanged">;
      logger?: GatewayLogger;
      authenticator: ApiKeyAuthenticator;
      audit: AuditWriter;
      box?: SecretBox;
    },
  ) {
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

  /** Creates a tenant with a starting balance in micro-dollars and optional limits and models. */
  async createTenant(
    input: { name: string; balanceMicros: number } & Partial<LimitSettings & ModelSettings>,
    traceId: string,
  ): Promise<Tenant> {
    const tenant = await this.#store.createTenant(input);
    this.#record("tenant.create", tenant.id, tenant.id, traceId, { ...input });
    return tenant;
  }

  /** Changes a tenant's name, limits or models; every instance sees them within the cache TTL. */
  async updateTenant(id: string, patch: TenantPatch, traceId: string): Promise<Tenant> {
    const tenant = await this.#store.updateTenant(id, withoutUndefined(patch));
    if (!tenant) throw notFound(`No tenant with id '${id}'`, "tenant_not_found");
    this.#authenticator.forgetTenant(id);
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

  /** Adds credits to a tenant's balance. */
  async addCredits(tenantId: string, amountMicros: number, traceId: string): Promise<Tenant> {
    const tenant = await this.#store.addCredits(tenantId, amountMicros);
    if (!tenant) throw notFound(`No tenant with id '${tenantId}'`, "tenant_not_found");
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
    if (patch.budgetMicros !== undefined) {
      await this.#funds?.budgetChanged(key.tenantId, keyId).catch((error) => {
        this.#logger?.error("funds_budget_change_failed", {
          tenant_id: key.tenantId,
          api_key_id: keyId,
          error,
        });
      });
    }
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
