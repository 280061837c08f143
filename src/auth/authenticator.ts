import { unauthorized } from "../core/mod.ts";
import type { ApiKey, Credential, Store, Tenant } from "../store/mod.ts";
import { hashApiKey, looksLikeApiKey } from "./keys.ts";

/** Who a request is from, once its key is verified, with the settings of its key and tenant. */
export interface Principal {
  apiKeyId: string;
  tenantId: string;
  key: ApiKey;
  tenant: Tenant;
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
  credential: Credential | undefined;
  expiresAt: number;
}

/**
 * Verifies `Authorization: Bearer <key>` headers. Lookups are cached in process for a few
 * seconds, which keeps the database off the hot path while bounding how long a revocation on
 * another instance takes to be seen.
 */
export class ApiKeyAuthenticator {
  readonly #store: Pick<Store, "findCredential">;
  readonly #ttl: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<Credential | undefined>>();

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
    const [scheme, secret] = authorization.trim().split(/\s+/, 2);
    if (scheme.toLowerCase() !== "bearer" || !secret) {
      throw unauthorized("The Authorization header must be 'Bearer <key>'", "invalid_api_key");
    }
    if (!looksLikeApiKey(secret)) throw unauthorized("Incorrect API key provided");
    const credential = await this.#lookup(hashApiKey(secret));
    if (!credential) throw unauthorized("Incorrect API key provided");
    const { key, tenant } = credential;
    if (key.revokedAt) throw unauthorized("This API key has been revoked", "revoked_api_key");
    return { apiKeyId: key.id, tenantId: key.tenantId, key, tenant };
  }

  /** Entries in the lookup cache. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Forgets a cached key at once, for revocations made by this instance. */
  forget(keyId: string): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.credential?.key.id === keyId) this.#cache.delete(hash);
    }
  }

  /** Forgets every cached key of a tenant, for changes to its settings made by this instance. */
  forgetTenant(tenantId: string): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.credential?.tenant.id === tenantId) this.#cache.delete(hash);
    }
  }

  async #lookup(hash: string): Promise<Credential | undefined> {
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.credential;
    // Concurrent requests with the same key share one database lookup.
    let pending = this.#inFlight.get(hash);
    if (!pending) {
      pending = this.#store.findCredential(hash).finally(() => this.#inFlight.delete(hash));
      this.#inFlight.set(hash, pending);
    }
    const credential = await pending;
    if (this.#cache.size >= this.#maxEntries) this.#evictExpired(now);
    if (this.#cache.size >= this.#maxEntries) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
    this.#cache.set(hash, { credential, expiresAt: now + this.#ttl });
    return credential;
  }

  #evictExpired(now: number): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.expiresAt <= now) this.#cache.delete(hash);
    }
  }
}
