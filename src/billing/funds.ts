import { GroupCommit, type PeriodStarts } from "../core/mod.ts";
import type { ScriptStep } from "../redis/mod.ts";
import type { LedgerEntry, ReservationInput, ReserveResult, Store } from "../store/mod.ts";

/** One request's reservation, and whether its trace id came from the client. */
export interface HoldRequest extends ReservationInput {
  /** A client's own trace id may repeat an earlier request's; a made one cannot. */
  clientTraceId: boolean;
}

/** What a finished request cost, to hold instead of its reservation until it is settled. */
export interface Charge {
  traceId: string;
  tenantId: string;
  apiKeyId: string;
  costMicros: number;
}

/** A reservation made together with another check (see {@linkcode Funds.reserveWith}). */
export interface ReservedWith<T> {
  reserved: ReserveResult;
  /** The other check's result; absent when the reservation was refused before it ran. */
  alongside?: T;
  /** False when nothing was held: refused, by the funds or by the other check. */
  held: boolean;
}

/**
 * Where the money of requests in flight is held. The store itself can do it (a reservation row
 * and a conditional update per request), or counters in Redis can, in front of the store: the
 * balance and the ledger in the store stay the truth either way.
 */
export interface Funds {
  /** Holds the request's worst case against the tenant's balance and the key's budget. */
  reserve(request: HoldRequest): Promise<ReserveResult>;
  /**
   * Funds held in Redis run another check kept in the same Redis (a rate limit's step) in the
   * reservation's script: one round trip, and both are recorded or neither. Funds held
   * elsewhere have no such method.
   */
  reserveWith?<T>(request: HoldRequest, step: ScriptStep<T>): Promise<ReservedWith<T>>;
  /** Gives the reservation back: the request produced nothing to charge. */
  release(traceId: string, tenantId: string): Promise<void>;
  /** The request ended: its cost is held instead of its worst case until it is settled. */
  charge(charge: Charge): Promise<void>;
  /**
   * These requests are settled in the store: their charges are in its balance now, and in the
   * spend of the budget periods `periods` (default those holding now, in UTC).
   */
  settled(entries: LedgerEntry[], periods?: PeriodStarts): Promise<void>;
  /** The tenant's balance grew by `amountMicros` in the store. */
  credited(tenantId: string, amountMicros: number): Promise<void>;
  /** The key's budget (or, without `apiKeyId`, the tenant's) or its period changed in the store. */
  budgetChanged(tenantId: string, apiKeyId?: string): Promise<void>;
}

/**
 * Reservations in the store: one conditional update per request, batched by group commit. Every
 * instance sharing the database is covered; each reservation costs a database commit.
 */
export class StoreFunds implements Funds {
  readonly #store: Pick<Store, "reserve" | "reserveMany" | "release">;
  readonly #reservations: GroupCommit<ReservationInput, ReserveResult>;

  /** `gather` batches the reservations of one event-loop turn (for synchronous stores). */
  constructor(store: Pick<Store, "reserve" | "reserveMany" | "release">, gather = false) {
    this.#store = store;
    this.#reservations = new GroupCommit({
      many: (inputs) => store.reserveMany(inputs),
      one: (input) => store.reserve(input),
      gather,
    });
  }

  reserve({ clientTraceId: _, ...input }: HoldRequest): Promise<ReserveResult> {
    return this.#reservations.run(input);
  }

  release(traceId: string): Promise<void> {
    return this.#store.release(traceId);
  }

  // The reservation row stays until the settlement deletes it with the charge, in one
  // transaction, and the balance changes in the store only: nothing to keep in step here.
  charge(): Promise<void> {
    return Promise.resolve();
  }

  settled(): Promise<void> {
    return Promise.resolve();
  }

  credited(): Promise<void> {
    return Promise.resolve();
  }

  budgetChanged(): Promise<void> {
    return Promise.resolve();
  }
}
