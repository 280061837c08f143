// The queue's vocabulary, shared by the Redis and the memory implementation.

/** Every queue an operator can look at; `retry` holds jobs waiting to be retried. */
export type QueueName = "default" | "billing" | "internal" | "external" | "retry";

/** A queue that workers take jobs from (every queue but `retry`). */
export type WorkQueueName = Exclude<QueueName, "retry">;

/** The queues workers take jobs from, in the order `depths()` reports them. */
export const WORK_QUEUES: readonly WorkQueueName[] = ["default", "billing", "internal", "external"];

/** One unit of work; handlers may see it more than once, so they must be idempotent. */
export interface Job {
  /** Unique: a random UUID unless the caller gave one (e.g. a trace id). */
  id: string;
  /** The queue the job is processed from. */
  queue: WorkQueueName;
  /** The name its handler was registered under. */
  task: string;
  /** The caller's data; must survive JSON. */
  payload: Record<string, unknown>;
  /** Failed attempts before this one: 0 on the first run. */
  attempts: number;
  /** When it was enqueued, in ms since the epoch. */
  enqueuedAt: number;
  /** The message of the last failure, once one failed. */
  lastError?: string;
}

/** Runs one job; a rejection schedules a retry (or dead-letters the job after `maxAttempts`). */
export type JobHandler = (job: Job) => Promise<void>;

/** Hooks for metrics, called by the queue (the caller maps them to its counters). */
export interface QueueObserver {
  /** A job was enqueued (to Redis or to the spool). */
  jobSent(queue: WorkQueueName, task: string): void;
  /** A handler resolved after `seconds`. */
  jobSucceeded(queue: WorkQueueName, task: string, seconds: number): void;
  /** A handler rejected after `seconds`; `willRetry` is false when the job was dead-lettered. */
  jobFailed(queue: WorkQueueName, task: string, seconds: number, willRetry: boolean): void;
}

/** A worker as `workers()` reports it, what Flower's worker list shows. */
export interface WorkerInfo {
  /** Unique per worker: `<instance id>:<queue>:<n>`. */
  id: string;
  /** The queue it takes jobs from. */
  queue: WorkQueueName;
  /** Whether its heartbeat is current. */
  alive: boolean;
  /** Its last heartbeat, in ms since the epoch. */
  lastSeenMs: number;
  /** Jobs it is running now: 0, or those of its last take (up to a batch). */
  active: number;
}

/** Counts of one task in this process, what Flower's task statistics show. */
export interface TaskStats {
  /** Jobs enqueued. */
  sent: number;
  /** Runs that succeeded. */
  succeeded: number;
  /** Runs that failed for the last time: their job went to the dead-letter list. */
  failed: number;
  /** Runs that failed and whose job was scheduled for a retry. */
  retried: number;
}

/** Options of `enqueue`. */
export interface EnqueueOptions {
  /** The job's id; default a random UUID. Not deduplicated: the handler must be idempotent. */
  id?: string;
}

/** The in-process job queue: enqueue anywhere, run handlers in workers. */
export interface JobQueue {
  /** Makes a job durable (in Redis or the on-disk spool) and returns its id. */
  enqueue(
    queue: WorkQueueName,
    task: string,
    payload: Record<string, unknown>,
    options?: EnqueueOptions,
  ): Promise<string>;
  /** Registers the handler of `task`; register every task before `start`. */
  register(task: string, handler: JobHandler): void;
  /** Starts `workers[queue]` workers per queue, plus the retry scheduler (and the reaper). */
  start(workers: Partial<Record<WorkQueueName, number>>): void;
  /** Stops taking jobs, waits up to `deadlineMs` for running handlers, releases everything. */
  stop(deadlineMs: number): Promise<void>;
  /**
   * Jobs waiting per queue: `default`, `billing`, `internal`, `external`, `retry`, `dead` (not
   * those being run); the Redis queue adds `spooled`, jobs on disk waiting for Redis.
   */
  depths(): Promise<Record<string, number>>;
  /** The workers (of every instance, for Redis) and whether they are alive. */
  workers(): Promise<WorkerInfo[]>;
  /** Counts per task in this process. */
  stats(): Record<string, TaskStats>;
  /** Dead-lettered jobs, newest first. */
  deadLetters(options: { offset: number; limit: number }): Promise<Job[]>;
  /** Moves a dead-lettered job back to its queue with its attempts reset; false if not found. */
  redrive(jobId: string): Promise<boolean>;
}
