import {
  backoffMs,
  type CommonQueueOptions,
  errorMessage,
  failed,
  newJob,
  QUEUE_LINGER_MS,
  redriven,
  runHandler,
  type Settings,
  settings,
  settledWithin,
  sleep,
  TAKE_BATCH,
  TaskCounters,
} from "./_shared.ts";
import { openQueueSpool, type Spool } from "./_spool.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import {
  type EnqueueOptions,
  type Job,
  type JobHandler,
  type JobQueue,
  type TaskStats,
  WORK_QUEUES,
  type WorkerInfo,
  type WorkQueueName,
} from "./types.ts";

/** Options of {@linkcode MemoryJobQueue}. */
export type MemoryJobQueueOptions = CommonQueueOptions;

/** The file in `spoolDir` that the memory queue journals its jobs to. */
export const MEMORY_JOURNAL_FILE = "memory-journal.jsonl";

// A job in the journal, with where it is; a job being run is journaled as "queue", so that a
// crash in the middle of its run replays it.
interface Entry {
  job: Job;
  at: "queue" | "retry" | "dead";
  retryAt?: number;
}

interface Worker {
  id: string;
  queue: WorkQueueName;
  active: number;
  done: Promise<void>;
}

/**
 * The queue of a gateway without Redis (embedded mode), with the Redis queue's semantics: every
 * job is journaled to disk from enqueue until acknowledged, so a crash of the process loses none
 * (nor one of the machine, with `spoolSync: "fsync"`); the journal is replayed by the next
 * instance on the same `spoolDir`.
 */
export class MemoryJobQueue implements JobQueue {
  readonly #logger: GatewayLogger;
  readonly #settings: Settings;
  readonly #counters: TaskCounters;
  readonly #journal: Spool<Entry>;
  readonly #handlers = new Map<string, JobHandler>();
  readonly #ready = new Map<WorkQueueName, Job[]>(WORK_QUEUES.map((queue) => [queue, []]));
  readonly #retry = new Map<string, Entry>();
  #dead: Job[] = [];
  readonly #waiters = new Map<WorkQueueName, Array<() => void>>();
  readonly #workers: Worker[] = [];
  #scheduler: ReturnType<typeof setInterval> | undefined;
  readonly #stopping = new AbortController();
  #started = false;

  get #stopped(): boolean {
    return this.#stopping.signal.aborted;
  }

  /** A queue journaling to `options.spoolDir`; replays the journal of an earlier instance. */
  constructor(options: MemoryJobQueueOptions) {
    this.#settings = settings(options);
    this.#logger = options.logger;
    this.#counters = new TaskCounters(options.observer);
    this.#journal = openQueueSpool(options, MEMORY_JOURNAL_FILE, (entry) => entry.job.id);
    for (const entry of this.#journal.values()) this.#place(entry);
    if (this.#journal.size > 0) {
      this.#logger.info("queue_journal_replayed", { jobs: this.#journal.size });
    }
  }

  /** Journals the job (see `spoolSync`) and hands it to a worker. */
  async enqueue(
    queue: WorkQueueName,
    task: string,
    payload: Record<string, unknown>,
    options?: EnqueueOptions,
  ): Promise<string> {
    if (this.#stopped) throw new Error("Cannot enqueue the job as the queue is stopped");
    const job = newJob(queue, task, payload, options);
    await this.#journal.put({ job, at: "queue" });
    this.#counters.sent(job);
    this.#place({ job, at: "queue" });
    return job.id;
  }

  /** Registers the handler of `task`. */
  register(task: string, handler: JobHandler): void {
    this.#handlers.set(task, handler);
  }

  /** Starts the workers and the retry scheduler; throws when already started. */
  start(workers: Partial<Record<WorkQueueName, number>>): void {
    if (this.#started || this.#stopped) throw new Error("Cannot start the queue twice");
    this.#started = true;
    for (const queue of WORK_QUEUES) {
      for (let n = 0; n < (workers[queue] ?? 0); n++) {
        const worker = { id: `memory:${queue}:${n}`, queue, active: 0 } as Worker;
        worker.done = this.#work(worker);
        this.#workers.push(worker);
      }
    }
    const every = Math.min(1000, Math.max(10, this.#settings.backoffBaseMs / 2));
    this.#scheduler = setInterval(() => this.#promoteDue(), every);
  }

  /** Stops taking jobs and waits up to `deadlineMs` for running handlers; jobs stay journaled. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.#stopped) return;
    this.#stopping.abort();
    clearInterval(this.#scheduler);
    for (const wake of [...this.#waiters.values()].flat()) wake();
    this.#waiters.clear();
    const finished = await settledWithin(this.#workers.map((each) => each.done), deadlineMs);
    if (!finished) {
      this.#logger.warning("queue_stop_deadline_exceeded", {
        running: this.#workers.filter((each) => each.active > 0).length,
        deadline_ms: deadlineMs,
      });
    }
    await this.#journal.close();
  }

  /** Jobs per queue, `retry` and `dead` included (not the ones being run). */
  depths(): Promise<Record<string, number>> {
    const depths: Record<string, number> = {};
    for (const [queue, jobs] of this.#ready) depths[queue] = jobs.length;
    depths.retry = this.#retry.size;
    depths.dead = this.#dead.length;
    return Promise.resolve(depths);
  }

  /** This instance's workers; alive until stopped. */
  workers(): Promise<WorkerInfo[]> {
    const now = Date.now();
    return Promise.resolve(this.#workers.map(({ id, queue, active }) => ({
      id,
      queue,
      alive: !this.#stopped,
      lastSeenMs: now,
      active,
    })));
  }

  /** Counts per task since this instance was created. */
  stats(): Record<string, TaskStats> {
    return this.#counters.snapshot();
  }

  /** Dead-lettered jobs, newest first. */
  deadLetters(options: { offset: number; limit: number }): Promise<Job[]> {
    const page = this.#dead.slice(options.offset, options.offset + options.limit);
    return Promise.resolve(page.map((job) => structuredClone(job)));
  }

  /** Moves a dead-lettered job back to its queue with its attempts reset. */
  async redrive(jobId: string): Promise<boolean> {
    const index = this.#dead.findIndex((job) => job.id === jobId);
    if (index < 0) return false;
    const [job] = this.#dead.splice(index, 1);
    const entry: Entry = { job: redriven(job), at: "queue" };
    await this.#journal.put(entry);
    this.#place(entry);
    return true;
  }

  #place(entry: Entry): void {
    if (entry.at === "dead") this.#dead.unshift(entry.job);
    else if (entry.at === "retry") this.#retry.set(entry.job.id, entry);
    else {
      const ready = this.#ready.get(entry.job.queue)!;
      ready.push(entry.job);
      // One worker for the first job, which lingers for the ones behind it; another for each
      // batch that fills meanwhile.
      if (ready.length % TAKE_BATCH === 1) this.#waiters.get(entry.job.queue)?.shift()?.();
    }
  }

  // Moving a due job back to its queue is not journaled: replay does the same with a due entry.
  #promoteDue(): void {
    const now = Date.now();
    for (const [id, entry] of this.#retry) {
      if (entry.retryAt! > now) continue;
      this.#retry.delete(id);
      this.#place({ job: entry.job, at: "queue" });
    }
  }

  // As the Redis queue's workers do: whatever is waiting, up to a batch, runs together, so that
  // handlers sharing a transaction keep up with a backlog.
  async #work(worker: Worker): Promise<void> {
    const ready = this.#ready.get(worker.queue)!;
    while (!this.#stopped) {
      if (ready.length === 0) {
        await new Promise<void>((wake) => {
          const waiters = this.#waiters.get(worker.queue) ?? [];
          waiters.push(wake);
          this.#waiters.set(worker.queue, waiters);
        });
        // Woken by a job on an empty queue, a worker lingers (see QUEUE_LINGER_MS) unless a
        // batch is full already; a stop cuts the wait short, and the jobs it woke for run.
        if (ready.length > 0 && ready.length < TAKE_BATCH) {
          await sleep(QUEUE_LINGER_MS, this.#stopping.signal);
        }
        // Woken by the stop with nothing to do.
        if (ready.length === 0) continue;
      }
      const jobs = ready.splice(0, TAKE_BATCH);
      worker.active = jobs.length;
      await Promise.all(jobs.map(async (job) => {
        try {
          await this.#run(job);
        } catch (error) {
          // The journal could not be written: the job stays journaled as it was and is replayed.
          this.#logger.error("queue_journal_failed", {
            job_id: job.id,
            error_message: errorMessage(error),
          });
        }
      }));
      worker.active = 0;
    }
  }

  async #run(job: Job): Promise<void> {
    const { error, seconds } = await runHandler(this.#handlers.get(job.task), structuredClone(job));
    if (error === undefined) {
      await this.#journal.ack(job.id);
      this.#counters.succeeded(job, seconds);
      return;
    }
    const next = failed(job, error);
    const willRetry = next.attempts < this.#settings.maxAttempts;
    const entry: Entry = willRetry
      ? { job: next, at: "retry", retryAt: Date.now() + backoffMs(next.attempts, this.#settings) }
      : { job: next, at: "dead" };
    await this.#journal.put(entry);
    this.#counters.failed(job, seconds, willRetry);
    this.#logger.warning(willRetry ? "job_retry_scheduled" : "job_dead_lettered", {
      job_id: job.id,
      task: job.task,
      queue: job.queue,
      attempts: next.attempts,
      error_message: next.lastError,
    });
    if (!this.#stopped) this.#place(entry);
  }
}
