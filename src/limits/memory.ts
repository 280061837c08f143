import { gcraCheck, gcraSettle, type GcraState, remainingOf, resetOf } from "./gcra.ts";
import { applicableLimits, toDecision, tokenLimits, wholeDelta } from "./_plan.ts";
import type { LimitSubject, RateLimitDecision, RateLimiter } from "./types.ts";

/** Options of {@linkcode MemoryRateLimiter}. */
export interface MemoryRateLimiterOptions {
  /** The clock, in ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** The most limit states held (four per key at most); default 100 000. */
  maxEntries?: number;
}

interface Entry extends GcraState {
  /** When the level has drained to nothing and the entry can go. */
  emptyAt: number;
}

/**
 * The rate limiter of one process: exact for a single instance, and the fallback while Redis is
 * away. Each check runs synchronously, so it is atomic without locks.
 */
export class MemoryRateLimiter implements RateLimiter {
  // Ordered by last write, so that when live states must go, the longest untouched go first.
  readonly #states = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #maxEntries: number;

  /** A limiter with no state yet; throws a RangeError when `maxEntries` is not positive. */
  constructor(options: MemoryRateLimiterOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(
        `Cannot create a memory rate limiter as 'maxEntries' must be a positive integer: current value is ${maxEntries}`,
      );
    }
    this.#now = options.now ?? Date.now;
    this.#maxEntries = maxEntries;
  }

  /** How many limit states are held now. */
  get size(): number {
    return this.#states.size;
  }

  /** Checks and records every limit of `subject`, all or none. */
  check(subject: LimitSubject, estimatedTokens: number): Promise<RateLimitDecision> {
    const limits = applicableLimits(subject, estimatedTokens);
    const now = Math.floor(this.#now());
    const verdicts = limits.map((limit) =>
      gcraCheck(this.#get(limit.key, now), { limit: limit.limit, weight: limit.weight, now })
    );
    const allowed = verdicts.every((verdict) => verdict.allowed);
    const outcomes = limits.map(({ key, limit, weight }, i) => {
      // A denied request records nothing, so every limit reports its level before it.
      const level = allowed ? verdicts[i].next.level : verdicts[i].level;
      if (allowed && weight > 0) this.#set(key, verdicts[i].next, limit);
      const { retryAfterMs } = verdicts[i];
      return { remaining: remainingOf(level, limit), resetMs: resetOf(level, limit), retryAfterMs };
    });
    return Promise.resolve(toDecision(limits, outcomes));
  }

  /** Adds `deltaTokens` (actual − estimated) to the token limits of `subject`. */
  settleTokens(subject: LimitSubject, deltaTokens: number): Promise<void> {
    const delta = wholeDelta(deltaTokens);
    if (delta === 0) return Promise.resolve();
    const now = Math.floor(this.#now());
    for (const { key, limit } of tokenLimits(subject)) {
      this.#set(key, gcraSettle(this.#get(key, now), { limit, delta, now }), limit);
    }
    return Promise.resolve();
  }

  #get(key: string, now: number): GcraState | undefined {
    const entry = this.#states.get(key);
    if (entry !== undefined && entry.emptyAt <= now) {
      this.#states.delete(key);
      return undefined;
    }
    return entry;
  }

  #set(key: string, state: GcraState, limit: number): void {
    this.#states.delete(key);
    // An untouched budget is the same as no state at all.
    if (state.level <= 0) return;
    if (this.#states.size >= this.#maxEntries) this.#evict(state.at);
    this.#states.set(key, { ...state, emptyAt: state.at + resetOf(state.level, limit) });
  }

  // Drops every drained state; if that frees less than a tenth, also the least recently written
  // live ones (forgiving what they still held). Freeing a tenth at least keeps the sweep, which
  // visits every entry, to a few steps per write on average however full the map stays.
  #evict(now: number): void {
    for (const [key, entry] of this.#states) {
      if (entry.emptyAt <= now) this.#states.delete(key);
    }
    const target = Math.floor(this.#maxEntries * 0.9);
    for (const key of this.#states.keys()) {
      if (this.#states.size <= target) break;
      this.#states.delete(key);
    }
  }
}
