import type { ScriptStep } from "../redis/mod.ts";

/** The limits that apply to one request: its tenant's and its API key's, per minute. */
export interface LimitSubject {
  /** The tenant the key belongs to; its limits' keys share the hash tag `{t:tenantId}`. */
  tenantId: string;
  /** The API key the request came with. */
  apiKeyId: string;
  /** The tenant's limits, shared by all of its keys; undefined or 0 is not enforced. */
  tenant: { rpm?: number; tpm?: number };
  /** The key's own limits; undefined or 0 is not enforced. */
  key: { rpm?: number; tpm?: number };
}

/** Whose limit: the API key's own or the tenant's, which its keys share. */
export type LimitScope = "key" | "tenant";

/** What a limit counts: requests or tokens (prompt and completion), per minute. */
export type LimitKind = "requests" | "tokens";

/**
 * What OpenAI's `x-ratelimit-*` headers need: of the request limits and of the token limits that
 * apply, the tightest one (lowest remaining). Fields of a kind with no limit are absent.
 */
export interface RateLimitState {
  /** Requests per minute of the tightest request limit. */
  limitRequests?: number;
  /** Requests left of it now. */
  remainingRequests?: number;
  /** Milliseconds until the request limit is back to its full budget. */
  resetRequestsMs?: number;
  /** Tokens per minute of the tightest token limit. */
  limitTokens?: number;
  /** Tokens left of it now. */
  remainingTokens?: number;
  /** Milliseconds until the token limit is back to its full budget. */
  resetTokensMs?: number;
}

/** The answer of {@linkcode RateLimiter.check}: allowed, or denied by one limit with a wait. */
export type RateLimitDecision =
  | { allowed: true; state: RateLimitState }
  | {
    allowed: false;
    state: RateLimitState;
    /** The denying limit; of several, the one that takes longest to allow the request. */
    scope: LimitScope;
    kind: LimitKind;
    /** When the same request would be allowed, if nothing else happens meanwhile. */
    retryAfterMs: number;
  };

/** Requests-per-minute and tokens-per-minute limits per API key and per tenant. */
export interface RateLimiter {
  /**
   * Checks every limit of `subject` at once and records the request (one request, and
   * `estimatedTokens` tokens) in all of them only when all of them allow it.
   */
  check(subject: LimitSubject, estimatedTokens: number): Promise<RateLimitDecision>;
  /**
   * Corrects the token limits once the real usage is known: `deltaTokens` is actual minus
   * estimated, negative to give tokens back (never below an untouched budget).
   */
  settleTokens(subject: LimitSubject, deltaTokens: number): Promise<void>;
  /**
   * The check as a Redis script step, for a limiter kept in Redis: funds held in the same Redis
   * run it in their reservation's script, one round trip and one atomic decision for both.
   * Undefined when no limit applies, or when the limiter is not using Redis at the moment (one
   * failing over to memory checks each request itself).
   */
  step?(subject: LimitSubject, estimatedTokens: number): ScriptStep<RateLimitDecision> | undefined;
}
