/**
 * GCRA (the generic cell rate algorithm) for one per-minute limit, as pure functions shared by the
 * memory limiter and mirrored line for line by the Redis script in `_lua.ts`.
 *
 * Textbook GCRA keeps one theoretical arrival time (TAT) per limit, with emission interval
 * T = 60 000 / limit ms and a burst tolerance of 60 000 − T ms, so that `limit` requests fit in
 * an instantaneous burst and then one more every T. T is rarely a whole number (60 000 / 9), and
 * a TAT of some 1.7e12 ms leaves too few bits for its fraction: with a float TAT, the ninth
 * request of a burst at 9 rpm lands a hair past the tolerance and is refused, and so the last one
 * for almost half of all limits up to 2000. So the TAT is kept as `at + level / limit`:
 * `level` is the outstanding weight times 60 000, an integer that drains by `limit` per ms.
 * Every quantity stays an integer, the same in TypeScript and in Redis' Lua (whose numbers are
 * doubles and which writes them with 14 significant digits).
 */

/** The period of every limit: budgets are per minute. */
export const PERIOD_MS = 60_000;

/** One limit's state: the TAT as `at + level / limit`, see the module comment. */
export interface GcraState {
  /** Outstanding weight × {@linkcode PERIOD_MS}; 0 is an untouched budget. */
  level: number;
  /** When `level` was measured, in ms since the epoch. */
  at: number;
}

/** The outcome of {@linkcode gcraCheck} for one limit. */
export interface GcraVerdict {
  allowed: boolean;
  /** The level now, before the request. */
  level: number;
  /** The state to store when every limit of the request allows it; unchanged when denied. */
  next: GcraState;
  /** Milliseconds until this request would be allowed; 0 when it is. */
  retryAfterMs: number;
}

/** The level of `state` at `now`: what has not drained yet, never below 0. */
export function levelAt(
  state: GcraState | undefined,
  { limit, now }: { limit: number; now: number },
): number {
  if (state === undefined) return 0;
  return Math.max(0, state.level - limit * Math.max(0, now - state.at));
}

/**
 * Checks a request of `weight` units against a limit of `limit` units per minute. A request
 * heavier than the whole budget is allowed only when the budget is untouched and then recorded
 * in full, so the limit stays closed until those units are earned back: refusing it forever
 * would leave the client no way through.
 */
export function gcraCheck(
  state: GcraState | undefined,
  request: { limit: number; weight: number; now: number },
): GcraVerdict {
  const { limit, weight, now } = request;
  const level = levelAt(state, { limit, now });
  const at = Math.max(state?.at ?? now, now);
  // The level may be at most this before the request: the budget minus the request's weight.
  const room = (limit - Math.min(weight, limit)) * PERIOD_MS;
  if (level > room) {
    const retryAfterMs = Math.ceil((level - room) / limit);
    return { allowed: false, level, next: { level, at }, retryAfterMs };
  }
  return { allowed: true, level, next: { level: level + weight * PERIOD_MS, at }, retryAfterMs: 0 };
}

/** Adds `delta` units (negative gives them back) to a limit, never below an untouched budget. */
export function gcraSettle(
  state: GcraState | undefined,
  request: { limit: number; delta: number; now: number },
): GcraState {
  const { limit, delta, now } = request;
  const level = Math.max(0, levelAt(state, { limit, now }) + delta * PERIOD_MS);
  return { level, at: Math.max(state?.at ?? now, now) };
}

/** Whole units of `limit` left at `level`. */
export function remainingOf(level: number, limit: number): number {
  return Math.max(0, Math.floor((limit * PERIOD_MS - level) / PERIOD_MS));
}

/** Milliseconds until `level` has drained to an untouched budget. */
export function resetOf(level: number, limit: number): number {
  return Math.ceil(level / limit);
}
