// What the memory and Redis limiters share around the GCRA math: which limits apply to a
// request, under which key each is kept, and how per-limit outcomes become one decision.
import type {
  LimitKind,
  LimitScope,
  LimitSubject,
  RateLimitDecision,
  RateLimitState,
} from "./types.ts";

/** One limit that applies to a request, and the request's weight in it. */
export interface AppliedLimit {
  scope: LimitScope;
  kind: LimitKind;
  /** Units per minute, a whole number ≥ 1. */
  limit: number;
  /** Units this request takes: 1 request, or its estimated tokens. */
  weight: number;
  /** Where the limit's state lives, without the store's prefix; one hash tag per tenant. */
  key: string;
}

/** One limit's outcome as both limiters report it. */
export interface LimitOutcome {
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

/** The limits of `subject` that are enforced, in a fixed order: key before tenant. */
export function applicableLimits(subject: LimitSubject, estimatedTokens: number): AppliedLimit[] {
  const tokens = wholeWeight(estimatedTokens);
  // The tenant in braces is a Redis Cluster hash tag: every key of a tenant, and so every key of
  // one script call, lands on one slot.
  const base = `rl:{t:${subject.tenantId}}:`;
  const keyBase = `${base}k:${subject.apiKeyId}:`;
  const candidates: [LimitScope, LimitKind, number | undefined, number, string][] = [
    ["key", "requests", subject.key.rpm, 1, `${keyBase}req`],
    ["key", "tokens", subject.key.tpm, tokens, `${keyBase}tok`],
    ["tenant", "requests", subject.tenant.rpm, 1, `${base}req`],
    ["tenant", "tokens", subject.tenant.tpm, tokens, `${base}tok`],
  ];
  const applied: AppliedLimit[] = [];
  for (const [scope, kind, raw, weight, key] of candidates) {
    const limit = enforcedLimit(raw);
    if (limit !== undefined) applied.push({ scope, kind, limit, weight, key });
  }
  return applied;
}

/** The token limits of `subject` that are enforced, for settling. */
export function tokenLimits(subject: LimitSubject): AppliedLimit[] {
  return applicableLimits(subject, 0).filter((limit) => limit.kind === "tokens");
}

/** Whole tokens to settle: a fraction rounds away from zero, anything but a number is none. */
export function wholeDelta(deltaTokens: number): number {
  if (!Number.isFinite(deltaTokens)) return 0;
  return Math.sign(deltaTokens) * Math.ceil(Math.abs(deltaTokens));
}

/**
 * The decision from one outcome per limit (in the order of `limits`): denied by the limit that
 * takes longest to allow the request, since the client must wait for all of them.
 */
export function toDecision(limits: AppliedLimit[], outcomes: LimitOutcome[]): RateLimitDecision {
  const state = tightestState(limits, outcomes);
  let denied = -1;
  for (let i = 0; i < outcomes.length; i++) {
    const wait = outcomes[i].retryAfterMs;
    if (wait > 0 && (denied < 0 || wait > outcomes[denied].retryAfterMs)) denied = i;
  }
  if (denied < 0) return { allowed: true, state };
  const { scope, kind } = limits[denied];
  return { allowed: false, state, scope, kind, retryAfterMs: outcomes[denied].retryAfterMs };
}

function tightestState(limits: AppliedLimit[], outcomes: LimitOutcome[]): RateLimitState {
  const best: Partial<Record<LimitKind, number>> = {};
  for (let i = 0; i < limits.length; i++) {
    const current = best[limits[i].kind];
    if (current === undefined || tighter(outcomes[i], outcomes[current])) best[limits[i].kind] = i;
  }
  const state: RateLimitState = {};
  if (best.requests !== undefined) {
    state.limitRequests = limits[best.requests].limit;
    state.remainingRequests = outcomes[best.requests].remaining;
    state.resetRequestsMs = outcomes[best.requests].resetMs;
  }
  if (best.tokens !== undefined) {
    state.limitTokens = limits[best.tokens].limit;
    state.remainingTokens = outcomes[best.tokens].remaining;
    state.resetTokensMs = outcomes[best.tokens].resetMs;
  }
  return state;
}

// Lowest remaining wins; on a tie, the one that takes longer to reset.
function tighter(candidate: LimitOutcome, best: LimitOutcome): boolean {
  if (candidate.remaining !== best.remaining) return candidate.remaining < best.remaining;
  return candidate.resetMs > best.resetMs;
}

// Limits are whole units; anything not a positive number (undefined, 0, null from a database
// column) is not enforced. A fraction of one rounds up to 1 rather than to "unlimited".
function enforcedLimit(raw: number | undefined): number | undefined {
  if (typeof raw !== "number" || !(raw > 0)) return undefined;
  return raw === Infinity ? undefined : Math.max(1, Math.floor(raw));
}

// A request's estimate in whole tokens: partial tokens round up, nonsense counts as none.
function wholeWeight(tokens: number): number {
  return Number.isFinite(tokens) && tokens > 0 ? Math.ceil(tokens) : 0;
}
