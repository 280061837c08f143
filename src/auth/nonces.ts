import type { RedisConnection } from "../redis/mod.ts";

/** Remembers which nonces each key has used, so a signed request cannot be replayed. */
export interface NonceStore {
  /** True the first time this (keyId, nonce) is claimed within `ttlSeconds`; false on replay. */
  claim(keyId: string, nonce: string, ttlSeconds: number): Promise<boolean>;
}

/** Options of a {@linkcode MemoryNonceStore}. */
export interface MemoryNonceStoreOptions {
  /** Injected clock in milliseconds, for tests. */
  now?: () => number;
  /** Bound on remembered nonces. Default 1,000,000 (a few hundred MB at most). */
  maxEntries?: number;
}

/** Full sweeps of a full store run at most this often, so a flood cannot make each claim O(n). */
const FULL_SWEEP_INTERVAL_MS = 1000;

/**
 * Nonces in process memory, for a single instance without Redis.
 *
 * Bounded: expired nonces are dropped as new ones arrive. When the store is full of nonces that
 * have not expired, it refuses new claims by throwing `Error("nonce store full")` rather than
 * forgetting a live nonce: forgetting one would let that request be replayed, while refusing
 * only fails requests until old nonces expire (at most one window later).
 */
export class MemoryNonceStore implements NonceStore {
  readonly #now: () => number;
  readonly #maxEntries: number;
  // Expiry times by key, in insertion order: the oldest claims come first.
  readonly #expiries = new Map<string, number>();
  #lastFullSweep = -Infinity;

  constructor(options: MemoryNonceStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 1_000_000;
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) {
      throw new RangeError(
        `Cannot create the nonce store as 'maxEntries' must be a positive integer: current value is ${maxEntries}`,
      );
    }
    this.#now = options.now ?? Date.now;
    this.#maxEntries = maxEntries;
  }

  /** Nonces currently remembered, expired ones not yet swept included. */
  get size(): number {
    return this.#expiries.size;
  }

  // deno-lint-ignore require-await -- async so that every failure is a rejection
  async claim(keyId: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    checkTtl(ttlSeconds);
    const now = this.#now();
    const id = `${keyId}\u0000${nonce}`;
    const expiresAt = this.#expiries.get(id);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.#expiries.delete(id);
    this.#sweepOldest(now);
    if (this.#expiries.size >= this.#maxEntries) this.#sweepAll(now);
    if (this.#expiries.size >= this.#maxEntries) {
      throw new Error("nonce store full");
    }
    this.#expiries.set(id, now + ttlSeconds * 1000);
    return true;
  }

  // Claims have similar TTLs, so the oldest ones usually expire first: drop them cheaply.
  #sweepOldest(now: number): void {
    for (const [id, expiresAt] of this.#expiries) {
      if (expiresAt > now) return;
      this.#expiries.delete(id);
    }
  }

  #sweepAll(now: number): void {
    if (now - this.#lastFullSweep < FULL_SWEEP_INTERVAL_MS) return;
    this.#lastFullSweep = now;
    for (const [id, expiresAt] of this.#expiries) {
      if (expiresAt <= now) this.#expiries.delete(id);
    }
  }
}

/** Options of a {@linkcode RedisNonceStore}. */
export interface RedisNonceStoreOptions {
  redis: RedisConnection;
  /** Prefix of every key. Default `"gw:"`. */
  prefix?: string;
  /** Bound on each claim; a slower Redis rejects the claim. Default 100. */
  timeoutMs?: number;
}

/**
 * Nonces in Redis, shared by every instance: one `SET key 1 NX EX ttl` per claim, so exactly one
 * of two concurrent claims of a nonce wins, on any instance.
 */
export class RedisNonceStore implements NonceStore {
  readonly #redis: RedisConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(options: RedisNonceStoreOptions) {
    const timeoutMs = options.timeoutMs ?? 100;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(
        `Cannot create the nonce store as 'timeoutMs' must be positive: current value is ${timeoutMs}`,
      );
    }
    this.#redis = options.redis;
    this.#prefix = options.prefix ?? "gw:";
    this.#timeoutMs = timeoutMs;
  }

  async claim(keyId: string, nonce: string, ttlSeconds: number): Promise<boolean> {
    checkTtl(ttlSeconds);
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Drops the command if it was not sent yet; a sent one is simply no longer awaited.
        controller.abort();
        reject(
          new Error(`Cannot claim the nonce: Redis did not answer within ${this.#timeoutMs} ms`),
        );
      }, this.#timeoutMs);
    });
    try {
      const reply = await Promise.race([
        this.#redis.withAbortSignal(controller.signal).set(
          `${this.#prefix}nonce:${keyId}:${nonce}`,
          "1",
          { condition: "NX", expiration: { type: "EX", value: Math.ceil(ttlSeconds) } },
        ),
        deadline,
      ]);
      return reply !== null;
    } finally {
      clearTimeout(timer);
    }
  }
}

function checkTtl(ttlSeconds: number): void {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(
      `Cannot claim the nonce as 'ttlSeconds' must be positive: current value is ${ttlSeconds}`,
    );
  }
}
