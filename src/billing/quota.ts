import type { Principal } from "../auth/mod.ts";
import {
  badRequest,
  BudgetCalendar,
  HttpError,
  microsToUsd,
  type RequestEstimate,
} from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { ScriptStep } from "../redis/mod.ts";
import type { Charge, Funds, ReservedWith } from "./funds.ts";
import type { PriceList } from "./pricing.ts";

// What a client is told when its request's worst case is not covered; the log line names which.
const REFUSALS = {
  tenant_balance: "You exceeded your current quota: the balance does not cover this request",
  tenant_budget:
    "You exceeded your current quota: the budget of your account does not cover this request",
  key_budget: "You exceeded your current quota: this API key's budget does not cover this request",
} as const;

/** A request's reservation. */
export interface Reservation<T> {
  /** The worst case reserved, in micro-dollars. */
  amountMicros: number;
  /** False when the check reserved alongside refused, so nothing is held. */
  held: boolean;
  /** The result of the check reserved alongside, when the funds ran it. */
  alongside?: T;
}

/** What {@linkcode Quota} is built from. */
export interface QuotaOptions {
  /** Where reservations are held: the store, or Redis in front of it. */
  funds: Funds;
  prices: PriceList;
  /** How far below zero concurrent requests may take a balance or budget, in micro-dollars. */
  marginMicros: number;
  /** After this a reservation whose request died is returned by the sweeper. */
  reservationTtlMs: number;
  logger: GatewayLogger;
  /** The budget periods a reservation is checked in; default UTC on the system clock. */
  calendar?: BudgetCalendar;
}

/**
 * The quota step: before the upstream call, the request's worst-case cost (its prompt, plus the
 * most it may generate, at its model's price) is reserved from the tenant's balance and the key's
 * budget in one atomic step, so concurrent requests on any number of instances cannot overspend.
 * Billing settles the reservation to the real cost afterwards.
 */
export class Quota {
  readonly #options: QuotaOptions;
  readonly #calendar: BudgetCalendar;

  constructor(options: QuotaOptions) {
    this.#options = options;
    this.#calendar = options.calendar ?? new BudgetCalendar();
  }

  /**
   * The most `request` can cost, in micro-dollars; 400 naming the parameter that makes it so when
   * that is more than a safe integer: the client's own values, not a fault of the gateway's.
   */
  worstCase(request: RequestEstimate): number {
    const micros = this.#options.prices.worstCostIfCountable(request.model, request);
    if (micros !== undefined) return micros;
    throw badRequest(
      `The most this request may cost is out of range: ${request.outputTokens} output tokens ` +
        `at the price of '${request.model}' is more than the gateway can count; lower '${request.param}'`,
      "cost_out_of_range",
      request.param,
    );
  }

  /**
   * Reserves the worst case for the request, or throws 429 `insufficient_quota`. With
   * `alongside`, funds that can (see `Funds.reserveWith`) run that check in the same atomic step
   * and bring back its result; then nothing is held unless it allowed too.
   */
  async reserve<T = never>(
    principal: Principal,
    request: RequestEstimate,
    trace: { traceId: string; clientTraceId: boolean },
    alongside?: ScriptStep<T>,
  ): Promise<Reservation<T>> {
    const { traceId } = trace;
    const { funds, marginMicros, reservationTtlMs, logger } = this.#options;
    const amountMicros = Math.max(1, this.worstCase(request));
    let outcome: ReservedWith<T>;
    try {
      const hold = {
        traceId,
        clientTraceId: trace.clientTraceId,
        tenantId: principal.tenantId,
        apiKeyId: principal.apiKeyId,
        amountMicros,
        marginMicros,
        expiresAt: new Date(Date.now() + reservationTtlMs),
        periods: this.#calendar.starts(),
      };
      if (alongside && funds.reserveWith) {
        outcome = await funds.reserveWith(hold, alongside);
      } else {
        const reserved = await funds.reserve(hold);
        outcome = { reserved, held: reserved.ok };
      }
    } catch (error) {
      // Without a reservation nothing may be spent: the request is refused, not let through.
      logger.error("quota_unavailable", { error, tenant_id: principal.tenantId });
      throw new HttpError(503, "The quota cannot be checked right now; retry later", {
        type: "service_unavailable",
        code: "quota_unavailable",
        headers: { "retry-after": "1" },
        cause: error,
      });
    }
    const { reserved } = outcome;
    if (reserved.ok) return { amountMicros, held: outcome.held, alongside: outcome.alongside };
    if (reserved.reason === "duplicate") {
      // Billing is keyed by trace id, so a second request under one id would go unbilled.
      logger.warning("duplicate_trace_id", { tenant_id: principal.tenantId });
      throw new HttpError(
        409,
        `The trace id '${traceId}' was already used by another request; send a new X-Trace-Id for every request`,
        { type: "invalid_request_error", code: "duplicate_trace_id" },
      );
    }
    logger.warning("quota_exceeded", {
      reason: reserved.reason,
      tenant_id: principal.tenantId,
      api_key_id: principal.apiKeyId,
      model: request.model,
      reserve_usd: microsToUsd(amountMicros),
    });
    throw new HttpError(429, REFUSALS[reserved.reason], {
      type: "insufficient_quota",
      code: "insufficient_quota",
    });
  }

  /**
   * Holds the request's cost instead of its worst case until the billing job settles it. A
   * failure leaves the worst case held until it expires; the charge is billed all the same.
   */
  async charged(charge: Charge): Promise<void> {
    try {
      await this.#options.funds.charge(charge);
    } catch (error) {
      this.#options.logger.warning("reservation_charge_failed", {
        error,
        tenant_id: charge.tenantId,
      });
    }
  }

  /** Gives a reservation back without charging; a failure is left to the expiry sweeper. */
  release(traceId: string, tenantId: string): void {
    this.#options.funds.release(traceId, tenantId).catch((error) =>
      this.#options.logger.warning("reservation_release_failed", { error })
    );
  }
}
