import type { IdempotencyClaimResult, IdempotencyHold } from "../store/mod.ts";

/** What {@linkcode IdempotencyRecords.claim} is asked: a hold, for whom, for how long. */
export interface ClaimRequest extends IdempotencyHold {
  /** Tells the request the key was first used with from any other. */
  fingerprint: string;
  /** How long the hold lasts unless renewed; a process that died lets go after it. */
  leaseMs: number;
}

/** A finished request's record: its answer (null when not kept) and how long it is kept. */
export interface CompletedRecord {
  answer: Uint8Array | null;
  retentionMs: number;
}

/**
 * Where idempotency keys are held and answers recorded: Redis, shared by every instance, or the
 * store. One contract suite runs against each.
 */
export interface IdempotencyRecords {
  /** Claims the key atomically, or says who has it: see {@linkcode IdempotencyClaimResult}. */
  claim(request: ClaimRequest): Promise<IdempotencyClaimResult>;
  /** Extends a hold by `leaseMs` from now; false when it is no longer this one's. */
  renew(hold: IdempotencyHold, leaseMs: number): Promise<boolean>;
  /** Turns a hold into the key's record; false when the hold is no longer this one's. */
  complete(hold: IdempotencyHold, record: CompletedRecord): Promise<boolean>;
  /** Frees a held key so that a retry runs afresh; no-op when the hold is not this one's. */
  release(hold: IdempotencyHold): Promise<void>;
}
