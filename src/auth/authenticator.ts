import { unauthorized } from "../core/mod.ts";
import type { ApiKey, Store } from "../store/mod.ts";
import { hashApiKey, looksLikeApiKey } from "./keys.ts";

/** Who a request is from, once its key is verified. */
export interface Principal {
  apiKeyId: string;
  tenantId: string;
}

/** Options of an {@linkcode ApiKeyAuthenticator}. */
export interface ApiKeyAuthenticatorOptions {
  store: Pick<Store, "findApiKeyByHash">;
  /** How long a lookup is trusted; a key revoked on another instance stops working within it. */
  cacheTtlMs: number;
  /** Bound on cached entries, so a flood of random keys cannot grow memory without limit. */
  maxEntries?: number;
  /** Injected clock for tests. */
  now?: () => number;
}

interface CacheEntry {
  key: ApiKey | undefined;
  expiresAt: number;
}

/**
 * Verifies `Authorization: Bearer <key>` headers. Lookups are cached in process for a few
 * seconds, which keeps the database off the hot path while bounding how long a revocation on
 * another instance takes to be seen.
 */
export class ApiKeyAuthenticator {
  readonly #store: Pick<Store, "findApiKeyByHash">;
  readonly #ttl: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<ApiKey | undefined>>();

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
    const key = await this.#lookup(hashApiKey(secret));
    if (!key) throw unauthorized("Incorrect API key provided");
    if (key.revokedAt) throw unauthorized("This API key has been revoked", "revoked_api_key");
    return { apiKeyId: key.id, tenantId: key.tenantId };
  }

  /** Entries in the lookup cache. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Forgets a cached key at once, for revocations made by this instance. */
  forget(keyId: string): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.key?.id === keyId) this.#cache.delete(hash);
    }
  }

  async #lookup(hash: string): Promise<ApiKey | undefined> {
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.key;
    // Concurrent requests with the same key share one database lookup.
    let pending = this.#inFlight.get(hash);
    if (!pending) {
      pending = this.#store.findApiKeyByHash(hash).finally(() => this.#inFlight.delete(hash));
      this.#inFlight.set(hash, pending);
    }
    const key = await pending;
    if (this.#cache.size >= this.#maxEntries) this.#evictExpired(now);
    if (this.#cache.size >= this.#maxEntries) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
    this.#cache.set(hash, { key, expiresAt: now + this.#ttl });
    return key;
  }

  #evictExpired(now: number): void {
    for (const [hash, entry] of this.#cache) {
      if (entry.expiresAt <= now) this.#cache.delete(hash);
    }
  }
}
