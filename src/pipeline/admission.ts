import type { Principal } from "../auth/mod.ts";
import { HttpError, MAX_LIMIT_PER_MINUTE, type RequestEstimate, type Usage } from "../core/mod.ts";
import {
  type LimitSubject,
  type RateLimitDecision,
  type RateLimiter,
  rateLimitHeaders,
} from "../limits/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { ScriptStep } from "../redis/mod.ts";

/** Limits that apply when a key or tenant has none of its own; undefined for none. */
export interface DefaultLimits {
  keyRpm?: number;
  keyTpm?: number;
  tenantRpm?: number;
  tenantTpm?: number;
}

/** What {@linkcode Admission} is built from. */
export interface AdmissionOptions {
  limiter: RateLimiter;
  defaults: DefaultLimits;
  metrics: GatewayMetrics;
  logger: GatewayLogger;
}

/** A request let in: the headers to answer with, and how to settle it once usage is known. */
export interface Admitted {
  headers: Record<string, string>;
  /** Corrects the token limits by the real usage; no usage (a failed call) gives them back. */
  settle(usage: Usage | undefined): void;
}

/**
 * The rate-limit step: every limit of the key and its tenant is checked and recorded in one
 * atomic call, with an estimate of the tokens (prompt plus the most the completion may take)
 * that is corrected by the real usage after the call.
 */
export class Admission {
  readonly #options: AdmissionOptions;

  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  /**
   * The check as a Redis script step, for funds in the same Redis to run with the reservation;
   * undefined when the limiter has none.
   */
  step(principal: Principal, request: RequestEstimate): ScriptStep<RateLimitDecision> | undefined {
    return this.#options.limiter.step?.(this.#subject(principal), estimateOf(request));
  }

  /**
   * Lets the request in or throws a 429 with `Retry-After` and OpenAI's rate-limit headers:
   * by `decided`, the step's result when the reservation ran it, or by checking now.
   */
  async admit(
    principal: Principal,
    request: RequestEstimate,
    decided?: RateLimitDecision,
  ): Promise<Admitted> {
    const { limiter, metrics, logger } = this.#options;
    const subject = this.#subject(principal);
    const estimate = estimateOf(request);
    const decision = decided ?? await limiter.check(subject, estimate);
    const headers = rateLimitHeaders(decision.state);
    if (!decision.allowed) {
      metrics.rateLimitHits.inc({ scope: decision.scope, kind: decision.kind });
      logger.warning("rate_limit_exceeded", {
        scope: decision.scope,
        kind: decision.kind,
        retry_after_ms: decision.retryAfterMs,
        estimated_tokens: estimate,
      });
      const retryAfter = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
      const whose = decision.scope === "key" ? "this API key" : "this organization";
      throw new HttpError(429, `Rate limit reached for ${whose}: ${decision.kind} per minute`, {
        type: "rate_limit_error",
        code: decision.kind === "requests" ? "rate_limit_requests" : "rate_limit_tokens",
        headers: { ...headers, "retry-after": retryAfter },
      });
    }
    return {
      headers,
      settle: (usage) => {
        // Held to the same bound as the estimate: an upstream may report any count.
        const actual = usage
          ? Math.min(usage.prompt_tokens + usage.completion_tokens, MAX_LIMIT_PER_MINUTE)
          : 0;
        if (actual === estimate) return;
        limiter.settleTokens(subject, actual - estimate).catch((error) =>
          logger.warning("rate_limit_settle_failed", { error })
        );
      },
    };
  }

  #subject(principal: Principal): LimitSubject {
    const { defaults } = this.#options;
    const { key, tenant } = principal;
    return {
      tenantId: principal.tenantId,
      apiKeyId: principal.apiKeyId,
      tenant: {
        rpm: tenant.rpmLimit ?? defaults.tenantRpm,
        tpm: tenant.tpmLimit ?? defaults.tenantTpm,
      },
      key: { rpm: key.rpmLimit ?? defaults.keyRpm, tpm: key.tpmLimit ?? defaults.keyTpm },
    };
  }
}

// Prompt plus the most the completion may take: what the token limits count before the call.
// A request heavier than any limit can be is let through on an untouched budget all the same,
// so counting it as the largest limit changes no decision, and the settlement by its real usage
// is exact; it keeps a limit's arithmetic (tokens × 60 000 in Redis' doubles) within its range.
function estimateOf(request: RequestEstimate): number {
  return Math.min(request.inputTokens + request.outputTokens, MAX_LIMIT_PER_MINUTE);
}
