// One suite, run against the memory and the Redis queue: both must queue, retry, dead-letter and
// stop the same way. Redis is required: when it is unreachable these tests fail.
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { MemoryJobQueue } from "./memory.ts";
import { RedisJobQueue } from "./redis.ts";
import {
  batchRecorder,
  openTestRedis,
  recordingLogger,
  recordingObserver,
  tempDir,
  waitFor,
} from "./_test_utils.ts";
import type { Job, JobQueue, QueueObserver, WorkQueueName } from "./types.ts";

interface MakeOptions {
  maxAttempts?: number;
  backoffBaseMs?: number;
  observer?: QueueObserver;
}

interface Harness extends AsyncDisposable {
  /** A new queue instance on the test's storage (prefix, spool); stopped on dispose. */
  make(options?: MakeOptions): JobQueue;
}

const FAST = { backoffBaseMs: 20, backoffMaxMs: 200 };

const backends: Array<{ name: string; open(): Promise<Harness> }> = [
  {
    name: "memory",
    async open() {
      const dir = await tempDir();
      const queues: JobQueue[] = [];
      return {
        make(options = {}) {
          const queue = new MemoryJobQueue({
            spoolDir: dir.path,
            logger: recordingLogger(),
            ...FAST,
            ...options,
          });
          queues.push(queue);
          return queue;
        },
        async [Symbol.asyncDispose]() {
          for (const queue of queues) await queue.stop(1000);
          await dir[Symbol.asyncDispose]();
        },
      };
    },
  },
  {
    name: "redis",
    async open() {
      const dir = await tempDir();
      const redis = await openTestRedis();
      const queues: JobQueue[] = [];
      return {
        make(options = {}) {
          const queue = new RedisJobQueue({
            redis: redis.client,
            prefix: redis.prefix,
            spoolDir: dir.path,
            logger: recordingLogger(),
            redisTimeoutMs: 2000,
            ...FAST,
            ...options,
          });
          queues.push(queue);
          return queue;
        },
        async [Symbol.asyncDispose]() {
          for (const queue of queues) await queue.stop(1000);
          await redis[Symbol.asyncDispose]();
          await dir[Symbol.asyncDispose]();
        },
      };
    },
  },
];

const EMPTY = { default: 0, billing: 0, internal: 0, external: 0, retry: 0, dead: 0 };

async function depths(queue: JobQueue) {
  const { spooled: _, ...rest } = await queue.depths();
  return rest;
}

for (const backend of backends) {
  const test = (name: string, fn: (harness: Harness) => Promise<void>) =>
    Deno.test(`${backend.name}: ${name}`, async () => {
      await using harness = await backend.open();
      await fn(harness);
    });

  test("a job is handled once with its payload and then acknowledged", async ({ make }) => {
    const observer = recordingObserver();
    const queue = make({ observer });
    const seen: Job[] = [];
    queue.register("billing.record", (job) => {
      seen.push(job);
      return Promise.resolve();
    });
    queue.start({ billing: 1 });
    const id = await queue.enqueue("billing", "billing.record", { traceId: "t1", cost: 12 });
    await waitFor(() => queue.stats()["billing.record"]?.succeeded === 1, "the job to succeed");
    assertEquals(seen.length, 1);
    assertEquals(seen[0].id, id);
    assertEquals(seen[0].payload, { traceId: "t1", cost: 12 });
    assertEquals(seen[0].attempts, 0);
    assertEquals(await depths(queue), EMPTY);
    assertEquals(queue.stats(), {
      "billing.record": { sent: 1, succeeded: 1, failed: 0, retried: 0 },
    });
    assertEquals(observer.calls, [
      "sent:billing:billing.record",
      "succeeded:billing:billing.record",
    ]);
    const workers = await queue.workers();
    assertEquals(workers.map(({ queue, alive }) => ({ queue, alive })), [
      { queue: "billing", alive: true },
    ]);
  });

  test("a failing job waits in retry with backoff, then succeeds", async ({ make }) => {
    const observer = recordingObserver();
    const queue = make({ backoffBaseMs: 150, observer });
    const runs: Array<{ attempts: number; at: number; lastError?: string }> = [];
    queue.register("flaky", (job) => {
      runs.push({ attempts: job.attempts, at: Date.now(), lastError: job.lastError });
      return job.attempts < 2 ? Promise.reject(new Error("upstream down")) : Promise.resolve();
    });
    queue.start({ default: 1 });
    await queue.enqueue("default", "flaky", {});
    await waitFor(async () => (await queue.depths()).retry === 1, "the job to wait in retry");
    await waitFor(() => queue.stats().flaky?.succeeded === 1, "the job to succeed");
    assertEquals(runs.map((run) => run.attempts), [0, 1, 2]);
    assertEquals(runs[1].lastError, "upstream down");
    // Equal jitter: at least half the delay, which doubles: 75 ms, then 150 ms.
    assert(runs[1].at - runs[0].at >= 70, `first retry after ${runs[1].at - runs[0].at} ms`);
    assert(runs[2].at - runs[1].at >= 145, `second retry after ${runs[2].at - runs[1].at} ms`);
    assertEquals(queue.stats().flaky, { sent: 1, succeeded: 1, failed: 0, retried: 2 });
    assertEquals(observer.calls, [
      "sent:default:flaky",
      "failed:default:flaky:retry",
      "failed:default:flaky:retry",
      "succeeded:default:flaky",
    ]);
    assertEquals(await depths(queue), EMPTY);
  });

  test("after maxAttempts a job is dead-lettered, listed, and a redrive runs it again", async ({ make }) => {
    const queue = make({ maxAttempts: 2 });
    let fixed = false;
    const runs: number[] = [];
    queue.register("fragile", (job) => {
      runs.push(job.attempts);
      return fixed ? Promise.resolve() : Promise.reject(new Error("bad payload"));
    });
    queue.start({ internal: 2 });
    const other = await queue.enqueue("internal", "fragile", { n: 1 });
    const id = await queue.enqueue("internal", "fragile", { n: 2 });
    await waitFor(async () => (await queue.depths()).dead === 2, "two dead letters");
    assertEquals(queue.stats().fragile, { sent: 2, succeeded: 0, failed: 2, retried: 2 });
    const dead = await queue.deadLetters({ offset: 0, limit: 10 });
    assertEquals(dead.map((job) => job.id).sort(), [id, other].sort());
    const page = await queue.deadLetters({ offset: 1, limit: 1 });
    assertEquals(page.length, 1);
    assertEquals(page[0].id, dead[1].id);
    const job = dead.find((each) => each.id === id)!;
    assertEquals({ attempts: job.attempts, lastError: job.lastError, payload: job.payload }, {
      attempts: 2,
      lastError: "bad payload",
      payload: { n: 2 },
    });
    fixed = true;
    runs.length = 0;
    assert(await queue.redrive(id));
    assertEquals(await queue.redrive(id), false);
    assertEquals(await queue.redrive("no-such-job"), false);
    await waitFor(() => queue.stats().fragile?.succeeded === 1, "the redriven job to succeed");
    assertEquals(runs, [0]);
    assertEquals((await queue.depths()).dead, 1);
  });

  test("jobs queued one after another on an empty queue run as one batch", async ({ make }) => {
    const queue = make();
    const { handler, batches } = batchRecorder();
    queue.register("work", handler);
    queue.start({ billing: 1 });
    // The worker is waiting on the empty queue when the first job comes.
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const n of [1, 2, 3]) await queue.enqueue("billing", "work", { n });
    await waitFor(() => queue.stats()["work"]?.succeeded === 3, "the jobs to succeed");
    assertEquals(batches, [3]);
  });

  test("stop() waits for a running handler", async ({ make }) => {
    const queue = make();
    let started = false;
    let finished = false;
    queue.register("slow", async () => {
      started = true;
      await new Promise((resolve) => setTimeout(resolve, 300));
      finished = true;
    });
    queue.start({ default: 1 });
    await queue.enqueue("default", "slow", {});
    await waitFor(() => started, "the handler to start");
    await queue.stop(5000);
    assert(finished, "stop() returned before the handler finished");
    assertEquals(queue.stats().slow?.succeeded, 1);
  });

  test("jobs not yet run survive stop() and are run by the next instance", async ({ make }) => {
    const first = make();
    const ids = [
      await first.enqueue("external", "later", { n: 1 }),
      await first.enqueue("external", "later", { n: 2 }),
      await first.enqueue("default", "later", { n: 3 }),
    ];
    await first.stop(1000);
    await assertRejects(() => first.enqueue("default", "later", {}));
    const second = make();
    assertEquals((await second.depths()).external, 2);
    const seen: string[] = [];
    second.register("later", (job) => {
      seen.push(job.id);
      return Promise.resolve();
    });
    second.start({ external: 1, default: 1 });
    await waitFor(() => seen.length === 3, "three jobs");
    assertEquals(seen.sort(), ids.sort());
  });

  test("concurrent workers run each of 200 jobs exactly once", async ({ make }) => {
    const queues = [make(), make()];
    const counts = new Map<string, number>();
    for (const queue of queues) {
      queue.register("count", async (job) => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        counts.set(job.id, (counts.get(job.id) ?? 0) + 1);
      });
    }
    // Two instances on one storage is the Redis case; the memory queue runs them separately.
    queues[0].start({ default: 4 });
    if (backend.name === "redis") queues[1].start({ default: 3 });
    const enqueuer = backend.name === "redis" ? queues[1] : queues[0];
    const ids = await Promise.all(
      Array.from({ length: 200 }, (_, n) => enqueuer.enqueue("default", "count", { n })),
    );
    await waitFor(() => counts.size === 200, "200 jobs", 10_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(new Set(ids).size, 200);
    assertEquals([...counts.values()].every((count) => count === 1), true);
    assertEquals((await queues[0].depths()).default, 0);
  });

  test("a job for a task without a handler fails like any other", async ({ make }) => {
    const queue = make({ maxAttempts: 1 });
    queue.start({ default: 1 });
    await queue.enqueue("default", "unknown.task", {}, { id: "job-1" });
    await waitFor(async () => (await queue.depths()).dead === 1, "the dead letter");
    const [dead] = await queue.deadLetters({ offset: 0, limit: 1 });
    assertEquals(dead.id, "job-1");
    assertEquals(dead.lastError, "No handler is registered for task 'unknown.task'");
  });

  test("enqueueing to retry is refused", async ({ make }) => {
    const queue = make();
    const error = await assertRejects(() => queue.enqueue("retry" as WorkQueueName, "task", {}));
    assert(error instanceof RangeError);
  });
}
