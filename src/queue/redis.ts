import { GroupCommit } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import { type RedisConnection, runScript, withDeadline } from "../redis/mod.ts";
import { ACK_SCRIPT, MOVE_SCRIPT, PROMOTE_SCRIPT, REAP_SCRIPT, TAKE_SCRIPT } from "./_lua.ts";
import {
  backoffMs,
  type CommonQueueOptions,
  errorMessage,
  failed,
  newJob,
  positive,
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

/** Options of {@linkcode RedisJobQueue}. */
export interface RedisJobQueueOptions extends CommonQueueOptions {
  /** The shared connection (from `connectRedis`); never closed, never used for blocking calls. */
  redis: RedisConnection;
  /** Put before every key; default "gw:". */
  prefix?: string;
  /** A worker whose heartbeat is this old is dead and its jobs go back; default 30,000 ms. */
  heartbeatTtlMs?: number;
  /** The longest an enqueue (or any other call) waits for Redis; default 500 ms. */
  redisTimeoutMs?: number;
  /** This instance's id, the start of its workers' ids; default `<hostname>-<random>`. */
  workerId?: string;
  /** How often spooled jobs are pushed to Redis while there are some; default 1000 ms. */
  spoolFlushIntervalMs?: number;
}

/** The file in `spoolDir` that holds jobs Redis could not take. */
export const REDIS_SPOOL_FILE = "redis-spool.jsonl";

// BLMOVE blocks this long, the longest an idle worker takes to notice Redis' return.
const BLOCK_SECONDS = 1;
// How many of the oldest jobs in `retry` each scheduler pass looks at.
const PROMOTE_SCAN = 1000;
// A dead worker stays in `workers()` (alive: false) this long.
const FORGET_WORKER_MS = 10 * 60_000;

interface Worker {
  id: string;
  queue: WorkQueueName;
  active: number;
  waiting: boolean;
  connection: RedisConnection;
  done: Promise<void>;
}

/**
 * The queue every gateway instance shares, on Redis lists (keys under `prefix`, default "gw:"):
 *
 * - `gw:queue:default`, `gw:queue:billing`, `gw:queue:internal`, `gw:queue:external`: jobs
 *   waiting for a worker (pushed left, taken right);
 * - `gw:queue:retry`: jobs waiting for their retry time, moved back to their queue when due;
 * - `gw:queue:dead`: jobs that failed `maxAttempts` times, newest first;
 * - `gw:processing:<worker id>`: the jobs a worker is running (up to 32 taken at once), until
 *   acknowledged;
 * - `gw:heartbeat:<worker id>`: present (with a TTL) while the worker lives;
 * - `gw:workers`: a hash from worker id to its last heartbeat (JSON).
 *
 * Each element is one job as JSON. When Redis does not answer, `enqueue` writes the job to the
 * on-disk spool (`<spoolDir>/redis-spool.jsonl`) and a flusher pushes it once Redis is back.
 */
export class RedisJobQueue implements JobQueue {
  readonly #redis: RedisConnection;
  readonly #prefix: string;
  readonly #logger: GatewayLogger;
  readonly #settings: Settings;
  readonly #counters: TaskCounters;
  readonly #spool: Spool<Job>;
  readonly #heartbeatTtlMs: number;
  readonly #timeoutMs: number;
  readonly #flushIntervalMs: number;
  readonly #instanceId: string;
  readonly #handlers = new Map<string, JobHandler>();
  readonly #workers: Worker[] = [];
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #stopping = new AbortController();
  // Jobs enqueued while a push is on its way go together in the next one: one LPUSH per queue
  // and round trip, however busy the gateway.
  readonly #pushes = new GroupCommit<Job, void>({
    many: (jobs) => this.#push(jobs),
    one: (job) => this.#push([job]).then(() => undefined),
    splitFailed: false,
  });
  #flusher: ReturnType<typeof setInterval> | undefined;
  #flushing = false;
  #spooling = false;
  #started = false;
  #abandon = false;

  /** A queue on `options.redis`; reads the spool and pushes what an earlier instance left. */
  constructor(options: RedisJobQueueOptions) {
    this.#settings = settings(options);
    this.#heartbeatTtlMs = options.heartbeatTtlMs ?? 30_000;
    this.#timeoutMs = options.redisTimeoutMs ?? 500;
    this.#flushIntervalMs = options.spoolFlushIntervalMs ?? 1000;
    positive("heartbeatTtlMs", this.#heartbeatTtlMs);
    positive("redisTimeoutMs", this.#timeoutMs);
    positive("spoolFlushIntervalMs", this.#flushIntervalMs);
    this.#redis = options.redis;
    this.#prefix = options.prefix ?? "gw:";
    this.#logger = options.logger;
    this.#counters = new TaskCounters(options.observer);
    this.#instanceId = options.workerId ?? defaultInstanceId();
    this.#spool = openQueueSpool(options, REDIS_SPOOL_FILE, (job) => job.id);
    if (this.#spool.size > 0) this.#startFlusher();
  }

  /** Pushes the job to Redis or, when Redis does not answer in time, to the spool; never throws for Redis. */
  async enqueue(
    queue: WorkQueueName,
    task: string,
    payload: Record<string, unknown>,
    options?: EnqueueOptions,
  ): Promise<string> {
    if (this.#stopping.signal.aborted) {
      throw new Error("Cannot enqueue the job as the queue is stopped");
    }
    const job = newJob(queue, task, payload, options);
    try {
      if (!this.#redis.isReady) throw new Error("Redis is not connected");
      await this.#pushes.run(job);
      this.#spooling = false;
    } catch (error) {
      // A push that timed out may still land: the spooled copy then runs twice (idempotently).
      await this.#spool.put(job);
      if (!this.#spooling) {
        this.#logger.warning("queue_job_spooled", { error_message: errorMessage(error) });
      }
      this.#spooling = true;
      this.#startFlusher();
    }
    this.#counters.sent(job);
    return job.id;
  }

  async #push(jobs: Job[]): Promise<void[]> {
    const byQueue = Map.groupBy(jobs, (job) => job.queue);
    await Promise.all(
      [...byQueue].map(([queue, ofQueue]) =>
        this.#call(
          this.#redis.lPush(this.#key(queue), ofQueue.map((job) => encodeJob(job))),
          "an enqueue",
        )
      ),
    );
    return jobs.map(() => undefined);
  }

  /** Registers the handler of `task`. */
  register(task: string, handler: JobHandler): void {
    this.#handlers.set(task, handler);
  }

  /** Starts the workers (one Redis connection each), heartbeats, the retry scheduler and the reaper. */
  start(workers: Partial<Record<WorkQueueName, number>>): void {
    if (this.#started || this.#stopping.signal.aborted) {
      throw new Error("Cannot start the queue twice");
    }
    this.#started = true;
    for (const queue of WORK_QUEUES) {
      for (let n = 0; n < (workers[queue] ?? 0); n++) {
        const connection = this.#redis.duplicate();
        connection.on("error", () => {}); // The shared connection reports outages.
        connection.connect().catch(() => {});
        const id = `${this.#instanceId}:${queue}:${n}`;
        const worker = { id, queue, active: 0, waiting: false, connection } as Worker;
        this.#workers.push(worker);
      }
    }
    const beating = this.#beat();
    for (const worker of this.#workers) worker.done = beating.then(() => this.#work(worker));
    const promoteEvery = Math.min(1000, Math.max(10, this.#settings.backoffBaseMs / 2));
    this.#every(this.#heartbeatTtlMs / 3, () => this.#beat());
    this.#every(this.#heartbeatTtlMs / 2, () => this.#reap());
    this.#every(promoteEvery, () => this.#promote());
    this.#reap();
  }

  /** Stops taking jobs, waits up to `deadlineMs` for running handlers, hands back what is left. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    // An idle worker's BLMOVE is cut short; a job it took meanwhile is handed back below.
    for (const worker of this.#workers) if (worker.waiting) disconnect(worker.connection);
    const finished = await settledWithin(this.#workers.map((each) => each.done), deadlineMs);
    if (!finished) {
      this.#abandon = true;
      this.#logger.warning("queue_stop_deadline_exceeded", {
        running: this.#workers.filter((each) => each.active > 0).length,
        deadline_ms: deadlineMs,
      });
    }
    for (const timer of this.#timers) clearInterval(timer);
    clearInterval(this.#flusher);
    for (const worker of this.#workers) disconnect(worker.connection);
    if (this.#workers.length > 0) await this.#handBack().catch(() => {});
    await this.#flushSpool();
    await this.#spool.close();
  }

  /** `LLEN` of every queue (`retry` and `dead` included) and `spooled`, the jobs waiting for Redis. */
  async depths(): Promise<Record<string, number>> {
    const names = [...WORK_QUEUES, "retry", "dead"];
    const multi = this.#redis.multi();
    for (const name of names) multi.lLen(this.#key(name));
    const lengths = await this.#call(multi.exec(), "LLEN");
    const depths: Record<string, number> = {};
    names.forEach((name, i) => depths[name] = Number(lengths[i]));
    depths.spooled = this.#spool.size;
    return depths;
  }

  /** Every instance's workers seen in the last ten minutes, alive while their heartbeat lasts. */
  async workers(): Promise<WorkerInfo[]> {
    const seen = await this.#call(this.#redis.hGetAll(this.#prefix + "workers"), "HGETALL");
    const ids = Object.keys(seen).sort();
    if (ids.length === 0) return [];
    const multi = this.#redis.multi();
    for (const id of ids) multi.exists(`${this.#prefix}heartbeat:${id}`);
    const alive = await this.#call(multi.exec(), "EXISTS");
    return ids.map((id, i) => {
      const info = JSON.parse(seen[id]);
      const live = Number(alive[i]) === 1;
      return {
        id,
        queue: info.queue,
        alive: live,
        lastSeenMs: info.lastSeenMs,
        active: live ? info.active : 0,
      };
    });
  }

  /** Counts per task in this process. */
  stats(): Record<string, TaskStats> {
    return this.#counters.snapshot();
  }

  /** Dead-lettered jobs, newest first. */
  async deadLetters(options: { offset: number; limit: number }): Promise<Job[]> {
    if (options.limit <= 0) return [];
    const stop = options.offset + options.limit - 1;
    const raws = await this.#call(
      this.#redis.lRange(this.#key("dead"), options.offset, stop),
      "LRANGE",
    );
    return raws.map(decodeJob);
  }

  /** Moves a dead-lettered job back to its queue with its attempts reset. */
  async redrive(jobId: string): Promise<boolean> {
    const raws = await this.#call(this.#redis.lRange(this.#key("dead"), 0, -1), "LRANGE");
    const raw = raws.find((each) => decodeJob(each).id === jobId);
    if (raw === undefined) return false;
    const job = decodeJob(raw);
    const moved = await this.#call(
      runScript(this.#redis, MOVE_SCRIPT, [this.#key("dead"), this.#key(job.queue)], [
        raw,
        encodeJob(redriven(job)),
        "L",
      ]),
      "a redrive",
    );
    return moved === 1;
  }

  async #work(worker: Worker): Promise<void> {
    const processing = `${this.#prefix}processing:${worker.id}`;
    const signal = this.#stopping.signal;
    // After a failed call, a take may have moved jobs whose reply never arrived: they sit in
    // this worker's own list, where the reaper never looks while the worker is alive.
    let mayHoldJobs = false;
    while (!signal.aborted) {
      let raws: string[];
      try {
        if (!worker.connection.isReady) {
          await sleep(50, signal);
          continue;
        }
        raws = mayHoldJobs
          ? await this.#call(worker.connection.lRange(processing, 0, -1), "LRANGE")
          : [];
        mayHoldJobs = raws.length > 0;
        if (raws.length === 0) raws = await this.#take(worker, processing);
      } catch {
        mayHoldJobs = true;
        await sleep(500, signal);
        continue;
      } finally {
        worker.waiting = false;
      }
      // An idle worker looks at its own list now and then as well, so nothing stays stranded.
      if (raws.length === 0) mayHoldJobs = true;
      // Taken while stopping: left in `processing` for stop() to hand back.
      if (raws.length === 0 || signal.aborted) continue;
      worker.active = raws.length;
      try {
        await this.#run(processing, raws);
      } finally {
        worker.active = 0;
      }
    }
  }

  // Whatever is waiting, up to a batch, at once; on an empty queue, blocks for the next job.
  async #take(worker: Worker, processing: string): Promise<string[]> {
    const queue = this.#key(worker.queue);
    const taken = await this.#call(
      runScript(worker.connection, TAKE_SCRIPT, [queue, processing], [String(TAKE_BATCH)]),
      "a take",
    ) as string[];
    if (taken.length > 0) return taken;
    worker.waiting = true;
    const raw = await worker.connection.blMove(queue, processing, "RIGHT", "LEFT", BLOCK_SECONDS);
    if (raw === null) return [];
    worker.waiting = false;
    // Woken by one job on an empty queue: the jobs of the requests right behind it join its batch
    // (see QUEUE_LINGER_MS). A stop cuts the wait short, and the job goes back with the others.
    const signal = this.#stopping.signal;
    await sleep(QUEUE_LINGER_MS, signal);
    if (signal.aborted) return [raw];
    const behind = await this.#call(
      runScript(worker.connection, TAKE_SCRIPT, [queue, processing], [String(TAKE_BATCH - 1)]),
      "a take",
    ) as string[];
    return [raw, ...behind];
  }

  // The jobs of one take run together, so that their handlers can share a transaction; those that
  // succeeded are acknowledged in one call.
  async #run(processing: string, raws: string[]): Promise<void> {
    const jobs = raws.map(decodeJob);
    const outcomes = await Promise.all(
      jobs.map((job) => runHandler(this.#handlers.get(job.task), job)),
    );
    const succeeded = outcomes.flatMap(({ error }, i) => error === undefined ? [i] : []);
    if (succeeded.length > 0) {
      await this.#settle(
        () => runScript(this.#redis, ACK_SCRIPT, [processing], succeeded.map((i) => raws[i])),
        succeeded.map((i) => jobs[i]),
      );
    }
    for (const [i, job] of jobs.entries()) {
      const { error, seconds } = outcomes[i];
      if (error === undefined) {
        this.#counters.succeeded(job, seconds);
      } else {
        await this.#fail(processing, raws[i], job, error, seconds);
      }
    }
  }

  async #fail(
    processing: string,
    raw: string,
    job: Job,
    error: unknown,
    seconds: number,
  ): Promise<void> {
    const next = failed(job, error);
    const willRetry = next.attempts < this.#settings.maxAttempts;
    const retryAt = Date.now() + backoffMs(next.attempts, this.#settings);
    const target = this.#key(willRetry ? "retry" : "dead");
    const moved = encodeJob(next, willRetry ? retryAt : undefined);
    await this.#settle(
      () => runScript(this.#redis, MOVE_SCRIPT, [processing, target], [raw, moved, "L"]),
      [job],
    );
    this.#counters.failed(job, seconds, willRetry);
    this.#logger.warning(willRetry ? "job_retry_scheduled" : "job_dead_lettered", {
      job_id: job.id,
      task: job.task,
      queue: job.queue,
      attempts: next.attempts,
      error_message: next.lastError,
    });
  }

  // Acknowledging waits for Redis: until then the worker takes no other job. Past stop()'s
  // deadline it gives up, and the jobs, still in `processing`, are handed back and run again.
  async #settle(operation: () => Promise<unknown>, jobs: Job[]): Promise<void> {
    while (true) {
      try {
        await this.#call(operation(), "an acknowledgement");
        return;
      } catch (error) {
        if (this.#abandon) {
          for (const job of jobs) {
            this.#logger.warning("queue_ack_abandoned", {
              job_id: job.id,
              error_message: errorMessage(error),
            });
          }
          return;
        }
        await sleep(200);
      }
    }
  }

  async #beat(): Promise<void> {
    if (this.#workers.length === 0) return;
    const multi = this.#redis.multi();
    const now = Date.now();
    for (const { id, queue, active } of this.#workers) {
      const info = JSON.stringify({ queue, lastSeenMs: now, active });
      multi.set(`${this.#prefix}heartbeat:${id}`, info, { PX: this.#heartbeatTtlMs });
      multi.hSet(this.#prefix + "workers", id, info);
    }
    await this.#call(multi.exec(), "a heartbeat").catch(() => {});
  }

  async #reap(): Promise<void> {
    const args = [this.#prefix, String(Date.now()), String(FORGET_WORKER_MS)];
    const moved = await this.#call(
      runScript(this.#redis, REAP_SCRIPT, [this.#prefix + "workers"], args),
      "the reaper",
    ).catch(() => 0);
    if (Number(moved) > 0) this.#logger.warning("queue_jobs_reaped", { jobs: Number(moved) });
  }

  async #handBack(): Promise<void> {
    const args = [this.#prefix, String(Date.now()), String(FORGET_WORKER_MS)];
    args.push(...this.#workers.map((worker) => worker.id));
    await this.#call(
      runScript(this.#redis, REAP_SCRIPT, [this.#prefix + "workers"], args),
      "a hand-back",
    );
  }

  async #promote(): Promise<void> {
    const args = [this.#prefix + "queue:", String(Date.now()), String(PROMOTE_SCAN)];
    await this.#call(
      runScript(this.#redis, PROMOTE_SCRIPT, [this.#key("retry")], args),
      "the retry scheduler",
    )
      .catch(() => {});
  }

  #startFlusher(): void {
    if (this.#flusher !== undefined || this.#stopping.signal.aborted) return;
    this.#flusher = setInterval(() => this.#flushSpool(), this.#flushIntervalMs);
  }

  async #flushSpool(): Promise<void> {
    if (this.#flushing || !this.#redis.isReady) return;
    this.#flushing = true;
    try {
      for (const job of this.#spool.values()) {
        await this.#call(this.#redis.lPush(this.#key(job.queue), encodeJob(job)), "a spool flush");
        await this.#spool.ack(job.id);
      }
      if (this.#spool.size === 0 && this.#flusher !== undefined) {
        clearInterval(this.#flusher);
        this.#flusher = undefined;
        this.#logger.info("queue_spool_flushed", {});
      }
    } catch {
      // Redis went away again: the next tick tries again.
    } finally {
      this.#flushing = false;
    }
  }

  #every(ms: number, task: () => Promise<void>): void {
    this.#timers.push(setInterval(task, Math.max(10, ms)));
  }

  #call<T>(promise: Promise<T>, what: string): Promise<T> {
    return withDeadline(promise, this.#timeoutMs, what);
  }

  #key(name: string): string {
    return `${this.#prefix}queue:${name}`;
  }
}

/** A job as it is stored in Redis: `queue` first (and `retryAt` before it) for the Lua scripts. */
export function encodeJob(job: Job, retryAt?: number): string {
  const { queue, id, task, attempts, enqueuedAt, lastError, payload } = job;
  const fields = { queue, id, task, attempts, enqueuedAt, lastError, payload };
  return JSON.stringify(
    retryAt === undefined ? fields : { retryAt: Math.ceil(retryAt), ...fields },
  );
}

/** The job of a stored element. */
export function decodeJob(raw: string): Job {
  const { retryAt: _, ...job } = JSON.parse(raw);
  return job as Job;
}

function disconnect(connection: RedisConnection): void {
  if (connection.isOpen) connection.destroy();
}

function defaultInstanceId(): string {
  let host = "gateway";
  try {
    host = Deno.hostname();
  } catch {
    // Without the sys permission the random part alone keeps ids unique.
  }
  return `${host}-${crypto.randomUUID().slice(0, 8)}`;
}
