// What both queue implementations share: options, backoff, counters, small async helpers.
import type { GatewayLogger } from "../observability/logging.ts";
import type { SpoolSync } from "./_spool.ts";
import {
  type EnqueueOptions,
  type Job,
  type QueueObserver,
  type TaskStats,
  WORK_QUEUES,
  type WorkQueueName,
} from "./types.ts";

/** Options both implementations take. */
export interface CommonQueueOptions {
  /** Directory of the on-disk spool (created if missing); one per process. */
  spoolDir: string;
  /** When a write to the spool counts as done (see {@linkcode SpoolSync}); default `fsync`. */
  spoolSync?: SpoolSync;
  /** Where the queue logs. */
  logger: GatewayLogger;
  /** Metric hooks. */
  observer?: QueueObserver;
  /** Runs of a job before it is dead-lettered, the first included; default 5. */
  maxAttempts?: number;
  /** The delay before the first retry (before jitter); default 1000 ms. */
  backoffBaseMs?: number;
  /** The longest delay between two runs; default 300,000 ms. */
  backoffMaxMs?: number;
}

/** The options after defaults and validation. */
export interface Settings {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/**
 * The most jobs a worker takes, and runs together, at once: handlers that share a transaction
 * (settlements) then write a backlog in a few commits instead of one per job.
 */
export const TAKE_BATCH = 32;

/**
 * How long a worker woken by a job on an empty queue waits before it takes the rest: the answer
 * of the request that queued the job goes out first, and the jobs of the requests right behind it
 * join the batch, so that a quiet gateway settles a few requests per transaction (and, embedded,
 * per fsync: as long as the SQLite store's fsyncs are apart, `MIN_FLUSH_INTERVAL_MS`, and the
 * spool's background fsync waits) instead of one each. Short enough that a settlement is written
 * within a few milliseconds of its answer.
 */
export const QUEUE_LINGER_MS = 10;

/** Applies defaults; throws a RangeError naming the first bad option. */
export function settings(options: CommonQueueOptions): Settings {
  const result = {
    maxAttempts: options.maxAttempts ?? 5,
    backoffBaseMs: options.backoffBaseMs ?? 1000,
    backoffMaxMs: options.backoffMaxMs ?? 300_000,
  };
  for (const [name, value] of Object.entries(result)) positive(name, value);
  if (!Number.isInteger(result.maxAttempts)) positive("maxAttempts", NaN);
  return result;
}

/** Throws a RangeError unless `value` is a finite positive number. */
export function positive(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(
      `Cannot create the job queue as '${name}' must be a positive number: current value is ${value}`,
    );
  }
}

/**
 * The delay before the retry following failed attempt number `attempts` (1-based): exponential
 * and capped, with "equal jitter" (half fixed, half random) so that jobs that failed together
 * (an upstream outage) do not all come back in the same instant.
 */
export function backoffMs(attempts: number, config: Settings, random = Math.random): number {
  const capped = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** (attempts - 1));
  return Math.ceil(capped / 2 + random() * capped / 2);
}

/** A new job; throws a RangeError for a queue workers do not take jobs from. */
export function newJob(
  queue: WorkQueueName,
  task: string,
  payload: Record<string, unknown>,
  options: EnqueueOptions = {},
): Job {
  if (!WORK_QUEUES.includes(queue)) {
    throw new RangeError(
      `Cannot enqueue the job as 'queue' must be one of ${
        WORK_QUEUES.join(", ")
      }: current value is ${queue}`,
    );
  }
  return {
    id: options.id ?? crypto.randomUUID(),
    queue,
    task,
    payload,
    attempts: 0,
    enqueuedAt: Date.now(),
  };
}

/** The job after one more failed run. */
export function failed(job: Job, error: unknown): Job {
  return { ...job, attempts: job.attempts + 1, lastError: errorMessage(error) };
}

/** The job as redriven from the dead-letter list: a fresh start. */
export function redriven(job: Job): Job {
  const { lastError: _, ...rest } = job;
  return { ...rest, attempts: 0 };
}

/** The message of a thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Counts per task, and the observer called alongside. */
export class TaskCounters {
  readonly #stats = new Map<string, TaskStats>();
  readonly #observer?: QueueObserver;

  constructor(observer?: QueueObserver) {
    this.#observer = observer;
  }

  sent(job: Job): void {
    this.#of(job.task).sent++;
    this.#observer?.jobSent(job.queue, job.task);
  }

  succeeded(job: Job, seconds: number): void {
    this.#of(job.task).succeeded++;
    this.#observer?.jobSucceeded(job.queue, job.task, seconds);
  }

  failed(job: Job, seconds: number, willRetry: boolean): void {
    this.#of(job.task)[willRetry ? "retried" : "failed"]++;
    this.#observer?.jobFailed(job.queue, job.task, seconds, willRetry);
  }

  snapshot(): Record<string, TaskStats> {
    return Object.fromEntries([...this.#stats].map(([task, stats]) => [task, { ...stats }]));
  }

  #of(task: string): TaskStats {
    let stats = this.#stats.get(task);
    if (stats === undefined) {
      stats = { sent: 0, succeeded: 0, failed: 0, retried: 0 };
      this.#stats.set(task, stats);
    }
    return stats;
  }
}

/**
 * Runs a job's handler; resolves to the error it threw (undefined on success) and its time. The
 * handler may change the job it is given: pass a copy of one that is kept.
 */
export async function runHandler(
  handler: ((job: Job) => Promise<void>) | undefined,
  job: Job,
): Promise<{ error: unknown; seconds: number }> {
  const started = performance.now();
  let error: unknown;
  try {
    if (handler === undefined) throw new Error(`No handler is registered for task '${job.task}'`);
    await handler(job);
  } catch (thrown) {
    error = thrown ?? new Error("The handler rejected without a reason");
  }
  return { error, seconds: (performance.now() - started) / 1000 };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/** Whether every promise settled within `ms`. */
export async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  const all = Promise.allSettled(promises).then(() => true);
  try {
    return await Promise.race([all, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
