import { z } from "zod";
import type { GatewayLogger } from "../observability/logging.ts";
import type { Job, JobQueue } from "../queue/mod.ts";
import type { AuditEntry, Store } from "../store/mod.ts";

/** The task that writes a batch of audit records. */
export const AUDIT_TASK = "audit.write";

const entrySchema = z.object({
  actor: z.string(),
  action: z.string(),
  tenantId: z.string().nullable(),
  target: z.string().nullable(),
  traceId: z.string().nullable(),
  details: z.record(z.unknown()),
});

const batchSchema = z.object({ entries: z.array(entrySchema) });

/** What an {@linkcode AuditWriter} is built from. */
export interface AuditWriterOptions {
  queue: JobQueue;
  store: Pick<Store, "writeAudit" | "flushToDisk">;
  logger: GatewayLogger;
  /** A batch goes out when it holds this many records… */
  batchSize?: number;
  /** …or this long after its first record. */
  flushMs?: number;
}

/**
 * Audit records (one per request and per admin action) written through the `internal` queue in
 * batches: the request path only appends to a buffer, and one job writes many rows at once.
 */
export class AuditWriter {
  readonly #options:
    & Required<Omit<AuditWriterOptions, "logger" | "store" | "queue">>
    & AuditWriterOptions;
  #batch: AuditEntry[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: AuditWriterOptions) {
    this.#options = { batchSize: 100, flushMs: 1000, ...options };
    options.queue.register(AUDIT_TASK, (job) => this.#write(job));
  }

  /** Adds one record to the current batch. */
  record(entry: AuditEntry): void {
    this.#batch.push(entry);
    if (this.#batch.length >= this.#options.batchSize) {
      void this.flush();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), this.#options.flushMs);
    }
  }

  /** Queues the current batch now (on shutdown, and when a batch is full). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    const entries = this.#batch;
    this.#batch = [];
    try {
      await this.#options.queue.enqueue("internal", AUDIT_TASK, { entries });
    } catch (error) {
      this.#options.logger.error("audit_enqueue_failed", { error, records: entries.length });
    }
  }

  async #write(job: Job): Promise<void> {
    const { entries } = batchSchema.parse(job.payload);
    await this.#options.store.writeAudit(entries);
    // On disk before the queue forgets the job, or a machine crash could lose the records.
    await this.#options.store.flushToDisk();
  }
}
