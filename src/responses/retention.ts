import type { GatewayLogger } from "../observability/logging.ts";
import type { Store } from "../store/mod.ts";

/** What the retention of stored responses is built from. */
export interface ResponsesRetentionOptions {
  store: Pick<Store, "deleteResponsesCreatedBefore">;
  /** `RESPONSES_RETENTION`, in milliseconds. */
  retentionMs: number;
  logger?: GatewayLogger;
  /** The time; the system clock by default. */
  now?: () => Date;
}

/** The longest pause between two sweeps, however long the retention. */
const MAX_SWEEP_INTERVAL_MS = 60_000;

/**
 * Deletes stored responses older than the retention: one sweep on demand, or now and then on
 * every instance (the delete is idempotent, so instances need not agree on who sweeps).
 */
export class ResponsesRetention {
  readonly #options: ResponsesRetentionOptions;
  readonly #now: () => Date;

  constructor(options: ResponsesRetentionOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Deletes what is past the retention now; returns how many responses went. */
  async sweep(): Promise<number> {
    const cutoff = new Date(this.#now().getTime() - this.#options.retentionMs);
    const deleted = await this.#options.store.deleteResponsesCreatedBefore(cutoff);
    if (deleted > 0) this.#options.logger?.info("responses_expired", { deleted });
    return deleted;
  }

  /** Sweeps every so often (the retention, at most a minute) until the timer is cleared. */
  start(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => {
      this.sweep().catch((error) =>
        this.#options.logger?.warning("responses_sweep_failed", { error })
      );
    }, Math.min(this.#options.retentionMs, MAX_SWEEP_INTERVAL_MS));
    Deno.unrefTimer(timer);
    return timer;
  }
}
