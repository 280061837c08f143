import { HttpError } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { ScriptStep } from "../redis/mod.ts";
import type { LimitSubject, RateLimitDecision, RateLimiter } from "./types.ts";

/** What to do while the shared limiter fails: limit per instance, or refuse requests. */
export type RedisFailurePolicy = "fail-open" | "fail-closed";

/** Options of {@linkcode FailoverRateLimiter}. */
export interface FailoverRateLimiterOptions {
  /** The shared limiter, normally a `RedisRateLimiter`; it must bound its own calls in time. */
  primary: RateLimiter;
  /** Used under "fail-open" while the primary fails, normally a `MemoryRateLimiter`. */
  fallback: RateLimiter;
  /** What to do while the primary fails. */
  policy: RedisFailurePolicy;
  /** Where the outage and its end are logged. */
  logger: GatewayLogger;
  /** While the primary fails, try it again at most this often; default 1000 ms. */
  probeIntervalMs?: number;
  /** The clock for the probe interval, in ms; default `performance.now`. */
  now?: () => number;
}

/**
 * A limiter that survives its primary: when the primary throws or times out, "fail-open" limits
 * with the fallback and "fail-closed" answers 503. An outage is logged once, as WARNING
 * `rate_limiter_degraded`, and its end as INFO `rate_limiter_recovered`.
 */
export class FailoverRateLimiter implements RateLimiter {
  readonly #options: FailoverRateLimiterOptions;
  readonly #probeIntervalMs: number;
  readonly #now: () => number;
  #down = false;
  #nextProbeAt = 0;

  /** A limiter that starts out trusting the primary. */
  constructor(options: FailoverRateLimiterOptions) {
    this.#options = options;
    this.#probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Checks with the primary, or per the policy while it fails. */
  check(subject: LimitSubject, estimatedTokens: number): Promise<RateLimitDecision> {
    return this.#call((limiter) => limiter.check(subject, estimatedTokens));
  }

  /**
   * The primary's step while it is up; none while it fails, so that such requests are checked
   * one by one, by the probe or per the policy.
   */
  step(subject: LimitSubject, estimatedTokens: number): ScriptStep<RateLimitDecision> | undefined {
    if (this.#down) return undefined;
    return this.#options.primary.step?.(subject, estimatedTokens);
  }

  /** Settles with the primary, or per the policy while it fails. */
  settleTokens(subject: LimitSubject, deltaTokens: number): Promise<void> {
    return this.#call((limiter) => limiter.settleTokens(subject, deltaTokens));
  }

  async #call<T>(run: (limiter: RateLimiter) => Promise<T>): Promise<T> {
    // While the primary is down, every request would wait out its timeout: only one request per
    // interval tries it; the rest go straight to the policy.
    const probing = this.#down;
    if (probing) {
      if (this.#now() < this.#nextProbeAt) return this.#degraded(run, undefined);
      this.#nextProbeAt = this.#now() + this.#probeIntervalMs;
    }
    let result: T;
    try {
      result = await run(this.#options.primary);
    } catch (error) {
      this.#failed(error);
      return this.#degraded(run, error);
    }
    // Only a call started during the outage proves it over: one that began before it may
    // finish after it was declared.
    if (probing && this.#down) {
      this.#down = false;
      this.#options.logger.info("rate_limiter_recovered", { policy: this.#options.policy });
    }
    return result;
  }

  #failed(error: unknown): void {
    this.#nextProbeAt = this.#now() + this.#probeIntervalMs;
    if (this.#down) return;
    this.#down = true;
    this.#options.logger.warning("rate_limiter_degraded", { policy: this.#options.policy, error });
  }

  #degraded<T>(run: (limiter: RateLimiter) => Promise<T>, cause: unknown): Promise<T> {
    if (this.#options.policy === "fail-open") return run(this.#options.fallback);
    return Promise.reject(
      new HttpError(503, "Rate limiting is unavailable; try again shortly.", {
        type: "service_unavailable",
        code: "rate_limiter_unavailable",
        headers: { "retry-after": "1" },
        cause,
      }),
    );
  }
}
