import type { IdempotencyClaimResult, IdempotencyHold, Store } from "../store/mod.ts";
import type { ClaimRequest, CompletedRecord, IdempotencyRecords } from "./types.ts";

/** The store's side of {@linkcode StoreIdempotencyRecords}. */
export type IdempotencyStore = Pick<
  Store,
  | "claimIdempotencyKey"
  | "renewIdempotencyKey"
  | "completeIdempotencyKey"
  | "releaseIdempotencyKey"
>;

/**
 * Idempotency keys in the store (SQLite or PostgreSQL), for installations without Redis. Expired
 * rows count as absent at once; a sweep ({@linkcode Store.deleteExpiredIdempotencyKeys}) reclaims
 * their space.
 */
export class StoreIdempotencyRecords implements IdempotencyRecords {
  readonly #store: IdempotencyStore;
  readonly #now: () => number;

  /** `now` is the clock in milliseconds, injected for tests. */
  constructor(store: IdempotencyStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  claim(request: ClaimRequest): Promise<IdempotencyClaimResult> {
    const now = this.#now();
    const { leaseMs, ...hold } = request;
    return this.#store.claimIdempotencyKey({
      ...hold,
      now: new Date(now),
      leaseExpiresAt: new Date(now + leaseMs),
    });
  }

  renew(hold: IdempotencyHold, leaseMs: number): Promise<boolean> {
    return this.#store.renewIdempotencyKey({
      ...hold,
      leaseExpiresAt: new Date(this.#now() + leaseMs),
    });
  }

  complete(hold: IdempotencyHold, record: CompletedRecord): Promise<boolean> {
    return this.#store.completeIdempotencyKey({
      ...hold,
      answer: record.answer,
      expiresAt: new Date(this.#now() + record.retentionMs),
    });
  }

  release(hold: IdempotencyHold): Promise<void> {
    return this.#store.releaseIdempotencyKey(hold);
  }
}
