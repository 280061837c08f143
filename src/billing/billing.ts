import { z } from "zod";
import { BudgetCalendar, GroupCommit, type PeriodStarts } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { Job, JobQueue } from "../queue/mod.ts";
import type { LedgerEntry, Store } from "../store/mod.ts";
import type { Funds } from "./funds.ts";

/** The task that writes a request's ledger row and charges it. */
export const SETTLE_TASK = "billing.settle";

const ledgerEntrySchema = z.object({
  traceId: z.string().min(1),
  tenantId: z.string().min(1),
  apiKeyId: z.string().min(1),
  model: z.string(),
  provider: z.string(),
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  cacheReadTokens: z.number().int().min(0).optional(),
  cacheWriteTokens: z.number().int().min(0).optional(),
  costMicros: z.number().int().min(0),
  estimated: z.boolean(),
});

/** What {@linkcode Billing} is built from. */
export interface BillingOptions {
  queue: JobQueue;
  store: Pick<Store, "settle" | "settleMany" | "flushToDisk">;
  /** Told of every settlement, so that its charge stops being held. */
  funds?: Pick<Funds, "settled">;
  logger: GatewayLogger;
  /** The queue's attempts before a job is dead-lettered, to tell the last failure. */
  maxAttempts: number;
  /** The budget periods a settlement's cost counts in; default UTC on the system clock. */
  calendar?: BudgetCalendar;
}

/**
 * Billing through the `billing` queue: every completed request becomes one job, and its handler
 * settles it in one transaction (ledger row unique by trace id, balance and key spend), so a job
 * run twice charges once and a job that cannot run is kept, never lost.
 */
export class Billing {
  readonly #options: BillingOptions;
  // Jobs handed to several workers at once are settled together, in one transaction.
  readonly #settlements: GroupCommit<LedgerEntry, "settled" | "duplicate">;

  constructor(options: BillingOptions) {
    this.#options = options;
    // The funds are told at once, as holds read beside the store's balance (memory funds) would
    // count the charge twice until told; of a duplicate too, as the run that settled it may have
    // died before telling.
    // A cost counts in the budget periods in which it is settled: one reading of the clock for
    // the store and the funds, so that both count it in the same period.
    const calendar = options.calendar ?? new BudgetCalendar();
    const told = async <O>(
      entries: LedgerEntry[],
      settled: (periods: PeriodStarts) => Promise<O>,
    ) => {
      const periods = calendar.starts();
      const outcome = await settled(periods);
      await options.funds?.settled(entries, periods);
      return outcome;
    };
    this.#settlements = new GroupCommit({
      many: (entries) => told(entries, (periods) => options.store.settleMany(entries, periods)),
      one: (entry) => told([entry], (periods) => options.store.settle(entry, periods)),
    });
    options.queue.register(SETTLE_TASK, (job) => this.#settle(job));
  }

  /** Queues the charge of one request; the queue keeps it durable until it is settled. */
  async charge(entry: LedgerEntry): Promise<void> {
    await this.#options.queue.enqueue("billing", SETTLE_TASK, { ...entry }, {
      id: `settle:${entry.traceId}`,
    });
  }

  async #settle(job: Job): Promise<void> {
    const entry = ledgerEntrySchema.parse(job.payload);
    try {
      await this.#settlements.run(entry);
      // Should the flush below fail, the job runs again and finds the settlement done.
      // On disk before the queue forgets the job, or a machine crash could lose the charge.
      await this.#options.store.flushToDisk();
    } catch (error) {
      if (job.attempts + 1 >= this.#options.maxAttempts) {
        this.#options.logger.error("billing_deduct_failed", {
          trace_id: entry.traceId,
          tenant_id: entry.tenantId,
          api_key_id: entry.apiKeyId,
          cost_micros: entry.costMicros,
          attempts: job.attempts + 1,
          error,
        });
      }
      throw error;
    }
  }
}
