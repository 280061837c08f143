import type { Principal } from "../auth/mod.ts";
import type { RequestEstimate, Usage } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { ScriptStep } from "../redis/mod.ts";
import type { Billing } from "./billing.ts";
import { type PriceList, tokensOfUsage } from "./pricing.ts";
import type { Quota } from "./quota.ts";

/** What {@linkcode Metering} is built from. */
export interface MeteringOptions {
  quota: Quota;
  billing: Billing;
  prices: PriceList;
  logger: GatewayLogger;
}

/** How a metered call ended, as far as billing needs it. */
export interface MeteredOutcome {
  provider: string;
  /** The upstream's usage, when it reported one. */
  usage?: Usage;
  /** Characters the client received, to estimate a usage that never arrived. */
  producedChars: number;
  /**
   * The answer has no text to count (embeddings): it is charged for its input, estimated when no
   * usage came, even though nothing was produced.
   */
  inputOnly?: boolean;
}

/** One request's money: its reservation now, its charge or release when it ends. */
export interface Meter {
  /**
   * Charges what the call used (estimated when the upstream never said), or releases; resolves
   * with the cost once the charge is durable (in Redis or the spool), never rejects.
   */
  finish(outcome: MeteredOutcome): Promise<number | undefined>;
  /** Gives the reservation back: the call failed before producing anything. */
  abandon(): void;
}

/**
 * Reserve, then settle: the quota step before the upstream call, and one billing job after it,
 * for whole answers, streams, and streams the client abandoned alike.
 */
export class Metering {
  readonly #options: MeteringOptions;

  constructor(options: MeteringOptions) {
    this.#options = options;
  }

  /**
   * Reserves the request's worst case; throws 429 `insufficient_quota` when it is not covered.
   * `alongside` is a check to run in the same atomic step where the funds can (see
   * `Quota.reserve`); its result comes back with the meter.
   */
  async open<T = never>(
    principal: Principal,
    request: RequestEstimate,
    trace: { traceId: string; clientTraceId: boolean },
    alongside?: ScriptStep<T>,
  ): Promise<Meter & { alongside?: T }> {
    const { quota, billing, prices, logger } = this.#options;
    const { traceId } = trace;
    const { tenantId } = principal;
    const reservation = await quota.reserve(principal, request, trace, alongside);
    // A usage too large to price is no usage an upstream could have had: it is estimated, like
    // a malformed one, rather than failing the answer.
    const countable = (usage: Usage | undefined) =>
      usage && prices.costIfCountable(request.model, tokensOfUsage(usage)) !== undefined
        ? usage
        : undefined;
    // Refused by the check alongside: nothing was held, so there is nothing to give back.
    const release = () => reservation.held && quota.release(traceId, tenantId);
    let done = false;
    return {
      alongside: reservation.alongside,
      finish: async (outcome) => {
        if (done) return undefined;
        done = true;
        const usage = countable(outcome.usage);
        if (!usage && outcome.producedChars === 0 && !outcome.inputOnly) {
          release();
          return undefined;
        }
        // An estimate knows nothing of caches: all of its input is priced as input.
        const tokens = usage ? tokensOfUsage(usage) : {
          inputTokens: request.inputTokens,
          outputTokens: Math.ceil(outcome.producedChars / 4),
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
        };
        const entry = {
          traceId,
          tenantId: principal.tenantId,
          apiKeyId: principal.apiKeyId,
          model: request.model,
          provider: outcome.provider,
          ...tokens,
          costMicros: prices.cost(request.model, tokens),
          estimated: usage === undefined,
        };
        // Sent together: on one Redis connection the charge runs before the job can exist, so
        // its settlement finds it held (and a charge that still comes late finds it settled).
        const held = quota.charged(entry);
        try {
          await billing.charge(entry);
        } catch (error) {
          logger.error("billing_enqueue_failed", { error, cost_micros: entry.costMicros });
        }
        await held;
        return entry.costMicros;
      },
      abandon: () => {
        if (done) return;
        done = true;
        release();
      },
    };
  }
}
