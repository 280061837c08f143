import { ModelAllowlist, unauthorized } from "../core/mod.ts";
import type { ApiKey, Credential, Store, Tenant } from "../store/mod.ts";
import { hashApiKey, looksLikeApiKey } from "./keys.ts";

/** Who a request is from, once its key is verified, with the settings of its key and tenant. */
export interface Principal {
  readonly apiKeyId: string;
  readonly tenantId: string;
  readonly key: ApiKey;
  readonly tenant: Tenant;
  /** The models the tenant's and the key's lists allow, compiled; a model must pass both. */
  readonly models: { readonly tenant: ModelAllowlist; readonly key: ModelAllowlist };
}

/** Options of an {@linkcode ApiKeyAuthenticator}. */
export interface ApiKeyAuthenticatorOptions {
  store: Pick<Store, "findCredential">;
  /** How long a lookup is trusted; a key revoked on another instance stops working within it. */
  cacheTtlMs: number;
  /** Bound on cached entries, so a flood of random keys cannot grow memory without limit. */
  maxEntries?: number;
  /** Injected clock for tests. */
  now?: () => number;
}

interface CacheEntry {
  /** Built once per lookup and shared by the requests it serves, allowlists compiled. */
  principal: Principal | undefined;
  expiresAt: number;
}

/**
 * Verifies `Authorization: Bearer <key>` (and, on Anthropic's surface, `x-api-key`) headers.
 * Lookups are cached in process for a few seconds, which keeps the database off the hot path while
 * bounding how long a revocation on another instance takes to be seen.
 */
export class ApiKeyAuthenticator {
  readonly #store: Pick<Store, "findCredential">;
  readonly #ttl: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<Principal | undefined>>();

  constructor(options: ApiKeyAuthenticatorOptions) {
    this.#store = options.store;
    this.#ttl = options.cacheTtlMs;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** The principal behind an Authorization header; throws a 401 error otherwise. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!authorization) {
      throw unauthorized(
        "Missing API key: send it as 'Authorization: Bearer <key>'",
        "missing_api_key",
      );
    }
    return await this.#verify(bearerSecret(authorization));
  }

  /**
   * The principal behind an `x-api-key` header (how Anthropic's SDKs and Claude Code send a key)
   * or, without one, an Authorization header; throws a 401 error otherwise.
   */
  async authenticateEither(
    credentials: { apiKey: string | undefined; authorization: string | undefined },
  ): Promise<Principal> {
    const apiKey = credentials.apiKey?.trim();
    if (apiKey) return await this.#verify(apiKey);
    if (credentials.authorization) {
      return await this.#verify(bearerSecret(credentials.authorization));
    }
    throw unauthorized(
      "Missing API key: send it as 'x-api-key: <key>' or 'Authorization: Bearer <key>'",
      "missing_api_key",
    );
  }

  async #verify(secret: string): Promise<Principal> {
    if (!looksLikeApiKey(secret)) throw unauthorized("Incorrect API key provided");
    const principal = await this.#lookup(hashApiKey(secret));
    if (!principal) throw unauthorized("Incorrect API key provided");
    if (principal.key.revokedAt) {
      throw unauthorized("This API key has been revoked", "revoked_api_key");
    }
    return principal;
  }

  /** Entries in the lookup cache. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Forgets a cached key at once, for revocations made by this instance. */
  forget(keyId: string): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.principal?.apiKeyId === keyId) this.#cache.delete(hash);
    }
  }

  /** Forgets every cached key of a tenant, for changes to its settings made by this instance. */
  forgetTenant(tenantId: string): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.principal?.tenantId === tenantId) this.#cache.delete(hash);
    }
  }

  async #lookup(hash: string): Promise<Principal | undefined> {
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.principal;
    // Concurrent requests with the same key share one database lookup.
    let pending = this.#inFlight.get(hash);
    if (!pending) {
      pending = this.#store.findCredential(hash).then(principalOf)
        .finally(() => this.#inFlight.delete(hash));
      this.#inFlight.set(hash, pending);
    }
    const principal = await pending;
    if (this.#cache.size >= this.#maxEntries) this.#evictExpired(now);
    if (this.#cache.size >= this.#maxEntries) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
    this.#cache.set(hash, { principal, expiresAt: now + this.#ttl });
    return principal;
  }

  #evictExpired(now: number): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.expiresAt <= now) this.#cache.delete(hash);
    }
  }
}

function bearerSecret(authorization: string): string {
  const [scheme, secret] = authorization.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() !== "bearer" || !secret) {
    throw unauthorized("The Authorization header must be 'Bearer <key>'", "invalid_api_key");
  }
  return secret;
}

function principalOf(credential: Credential | undefined): Principal | undefined {
  if (!credential) return undefined;
  const { key, tenant } = credential;
  return {
    apiKeyId: key.id,
    tenantId: key.tenantId,
    key,
    tenant,
    models: {
      tenant: ModelAllowlist.compile(tenant.models),
      key: ModelAllowlist.compile(key.models),
    },
  };
}
