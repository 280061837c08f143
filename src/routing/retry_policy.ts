import type { UpstreamErrorClass } from "../observability/metrics.ts";
import type { RandomSource } from "./strategies.ts";

/** Settings of a {@linkcode RetryPolicy}. */
export interface RetryPolicyOptions {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** No new attempt starts later than this after the first one started. */
  deadlineMs: number;
  /** The backoff before the first retry of a deployment; it doubles with each retry. */
  backoffMs: number;
  /** The longest backoff. */
  backoffMaxMs: number;
  /** The longest upstream `Retry-After` waited for; a longer one means "not this deployment". */
  retryAfterMaxMs: number;
}

/**
 * Where a failed attempt may go next: `any` deployment (the same one included), only `other`
 * deployments, or `none`.
 */
export type RetryScope = "any" | "other" | "none";

/**
 * Which failures are worth another attempt, and how long to wait first. Connection failures,
 * timeouts, rate limits and server errors may pass with time, so they are retried anywhere. An
 * upstream refusing the gateway's key or answering garbage will do so again: another deployment
 * may still serve. A 4xx the client caused, or a client gone, ends the request.
 */
export class RetryPolicy {
  readonly options: Readonly<RetryPolicyOptions>;

  constructor(options: RetryPolicyOptions) {
    if (!(options.maxAttempts >= 1)) {
      throw new RangeError(
        `Cannot create the retry policy as 'maxAttempts' must be positive: current value is ${options.maxAttempts}`,
      );
    }
    this.options = options;
  }

  /** Where an attempt that failed with `errorClass` may be followed. */
  scopeOf(errorClass: UpstreamErrorClass): RetryScope {
    switch (errorClass) {
      case "connect":
      case "timeout":
      case "rate_limited":
      case "server_error":
        return "any";
      case "auth":
      case "invalid_response":
        return "other";
      default:
        return "none";
    }
  }

  /**
   * Milliseconds to wait before retrying the same deployment for the `retry`-th time (1 for
   * the first retry): exponential backoff with equal jitter, so the wait lies between half and
   * all of `backoffMs · 2^(retry−1)` (capped at `backoffMaxMs`), and at least the upstream's
   * `Retry-After`. Undefined when that `Retry-After` is over `retryAfterMaxMs`: the deployment
   * asked for more patience than a waiting client has.
   */
  backoffMs(
    retry: number,
    options: { retryAfterSeconds?: number; random: RandomSource },
  ): number | undefined {
    const { backoffMs, backoffMaxMs, retryAfterMaxMs } = this.options;
    const ceiling = Math.min(backoffMaxMs, backoffMs * 2 ** Math.max(0, retry - 1));
    const jittered = ceiling / 2 + options.random() * (ceiling / 2);
    const retryAfterMs = (options.retryAfterSeconds ?? 0) * 1000;
    if (retryAfterMs > retryAfterMaxMs) return undefined;
    return Math.round(Math.max(jittered, retryAfterMs));
  }
}
