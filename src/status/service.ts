import type { GatewayLogger } from "../observability/logging.ts";
import type { UpstreamFailure } from "../observability/upstream_failures.ts";
import type { Job, JobQueue, TaskStats, WorkerInfo } from "../queue/mod.ts";
import { BudgetCalendar } from "../core/mod.ts";
import type { BudgetUsage, NearQuota, Store } from "../store/mod.ts";

/** A circuit breaker's state, as the routing reports it. */
export type CircuitState = "closed" | "half_open" | "open";

/** One deployment's circuit. */
export interface CircuitStatus {
  provider: string;
  model: string;
  /** The deployment's name, as the `deployment` label of `gateway_circuit_state` has it. */
  deployment: string;
  state: CircuitState;
}

/** Whatever keeps circuit breakers (the routing) and can say what state each one is in. */
export interface CircuitStatusSource {
  /** Every circuit and its state now. */
  circuits(): CircuitStatus[];
}

/** What {@linkcode StatusService} is built from. */
export interface StatusServiceOptions {
  queue: Pick<JobQueue, "depths" | "workers" | "stats" | "deadLetters">;
  store: Pick<Store, "listNearQuota" | "listBudgetUsage">;
  /** The budget periods spend is shown for; default UTC on the system clock. */
  calendar?: BudgetCalendar;
  failures: { list(): UpstreamFailure[] };
  /** The circuit breakers; absent while none are configured. */
  circuits?: CircuitStatusSource;
  logger: GatewayLogger;
  /** Newest dead letters shown (default 20). */
  deadLetterLimit?: number;
  /** Most tenants, and keys, shown near their quota (default 50). */
  nearQuotaLimit?: number;
  /** Most budgets shown, the most used first (default 50). */
  budgetLimit?: number;
}

/** A budget in its current period: how much of it is used, and when it starts afresh. */
export interface BudgetReading extends BudgetUsage {
  /** Spent in the current period over the budget; 1 for a budget of zero. */
  usedRatio: number;
  /** When the current period began; null without a period. */
  periodStart: Date | null;
  /** When the next period begins; null without a period. */
  nextResetAt: Date | null;
}

/** How the caller judges "near the quota". */
export interface NearQuotaThresholds {
  /** Tenants whose available balance is below this, in micro-dollars. */
  lowBalanceMicros: number;
  /** Keys whose spend plus reservations reach this share of their budget. */
  keyBudgetRatio: number;
}

/** The gateway's state at one moment, what the status page shows. */
export interface StatusSnapshot {
  generatedAt: Date;
  /** Depths, workers and task counts; null when the queue could not be read. */
  queues: {
    depths: Record<string, number>;
    workers: WorkerInfo[];
    tasks: Record<string, TaskStats>;
  } | null;
  /** The newest dead letters; null when they could not be read. */
  deadLetters: Job[] | null;
  /** This process's latest upstream failures, newest first. */
  upstreamFailures: UpstreamFailure[];
  /** Every circuit; null when no circuit breakers are configured or they could not be read. */
  circuits: CircuitStatus[] | null;
  /** Tenants and keys about to run out; null when the database could not be read. */
  nearQuota: NearQuota | null;
  /** The most used budgets in their current periods; null when the database could not be read. */
  budgets: BudgetReading[] | null;
  /** Why a section is null (other than circuits not configured), for the page to say so. */
  unavailable: Partial<Record<StatusSection, string>>;
}

/** A part of the snapshot that can fail on its own. */
export type StatusSection = "queues" | "dead_letters" | "circuits" | "near_quota" | "budgets";

/**
 * Gathers the status page's data. Every part is read on its own, so that a Redis or database
 * outage, when an operator needs the page most, blanks only its own part.
 */
export class StatusService {
  readonly #options: StatusServiceOptions;
  readonly #calendar: BudgetCalendar;

  constructor(options: StatusServiceOptions) {
    this.#options = options;
    this.#calendar = options.calendar ?? new BudgetCalendar();
  }

  /** The `limit` most used budgets of tenants and keys in their current periods. */
  async budgets(limit: number): Promise<BudgetReading[]> {
    const usage = await this.#options.store.listBudgetUsage({
      periods: this.#calendar.starts(),
      limit,
    });
    return usage.map((budget) => {
      const window = this.#calendar.window(budget.budgetPeriod);
      return {
        ...budget,
        usedRatio: budget.budgetMicros === 0 ? 1 : budget.spentMicros / budget.budgetMicros,
        periodStart: budget.budgetPeriod === null ? null : new Date(window.start),
        nextResetAt: window.nextResetAt === null ? null : new Date(window.nextResetAt),
      };
    });
  }

  /** Reads every part at once. */
  async snapshot(thresholds: NearQuotaThresholds): Promise<StatusSnapshot> {
    const { queue, store, circuits } = this.#options;
    const unavailable: StatusSnapshot["unavailable"] = {};
    const guarded = async <T>(section: StatusSection, read: () => Promise<T>) => {
      try {
        return await read();
      } catch (error) {
        this.#options.logger.warning("status_section_failed", { section, error });
        unavailable[section] = `The ${section.replace("_", " ")} could not be read; see the ` +
          "gateway's log (status_section_failed)";
        return null;
      }
    };
    const [queues, deadLetters, nearQuota, budgets, circuitList] = await Promise.all([
      guarded("queues", async () => {
        const [depths, workers] = await Promise.all([queue.depths(), queue.workers()]);
        return { depths, workers, tasks: queue.stats() };
      }),
      guarded(
        "dead_letters",
        () => queue.deadLetters({ offset: 0, limit: this.#options.deadLetterLimit ?? 20 }),
      ),
      guarded("near_quota", () =>
        store.listNearQuota({
          belowMicros: thresholds.lowBalanceMicros,
          keyBudgetRatio: thresholds.keyBudgetRatio,
          limit: this.#options.nearQuotaLimit ?? 50,
        })),
      guarded("budgets", () => this.budgets(this.#options.budgetLimit ?? 50)),
      circuits === undefined
        ? Promise.resolve(null)
        : guarded("circuits", () => Promise.resolve().then(() => circuits.circuits())),
    ]);
    return {
      generatedAt: new Date(),
      queues,
      deadLetters,
      upstreamFailures: this.#options.failures.list(),
      circuits: circuitList,
      nearQuota,
      budgets,
      unavailable,
    };
  }
}
