// What only the Redis queue does: keys an operator can look at, a reaper for dead workers, and a
// spool when Redis is down or hangs. Redis is required: when it is unreachable these tests fail.
import { createClient } from "redis";
import { assert, assertEquals } from "../../tests/assert.ts";
import type { RedisConnection } from "../redis/mod.ts";
import { encodeJob, REDIS_SPOOL_FILE, RedisJobQueue, type RedisJobQueueOptions } from "./redis.ts";
import { openTestRedis, recordingLogger, tempDir, type TestRedis, waitFor } from "./_test_utils.ts";
import type { Job } from "./types.ts";

type Setup = { redis: TestRedis; spoolDir: string; queues: RedisJobQueue[] };

function test(name: string, fn: (setup: Setup) => Promise<void>) {
  Deno.test(`redis queue: ${name}`, async () => {
    await using dir = await tempDir();
    await using redis = await openTestRedis();
    const setup: Setup = { redis, spoolDir: dir.path, queues: [] };
    try {
      await fn(setup);
    } finally {
      for (const queue of setup.queues) await queue.stop(1000);
    }
  });
}

function open(setup: Setup, options: Partial<RedisJobQueueOptions> = {}): RedisJobQueue {
  const queue = new RedisJobQueue({
    redis: setup.redis.client,
    prefix: setup.redis.prefix,
    spoolDir: setup.spoolDir,
    logger: recordingLogger(),
    backoffBaseMs: 20,
    redisTimeoutMs: 2000,
    ...options,
  });
  setup.queues.push(queue);
  return queue;
}

test("jobs are in lists an operator finds with LLEN <prefix>queue:<name>", async (setup) => {
  const { client, prefix } = setup.redis;
  const queue = open(setup, { backoffBaseMs: 10_000 });
  await queue.enqueue("billing", "billing.record", { traceId: "t1" });
  assertEquals(await client.lLen(`${prefix}queue:billing`), 1);
  const [raw] = await client.lRange(`${prefix}queue:billing`, 0, -1);
  assertEquals(JSON.parse(raw).payload, { traceId: "t1" });
  queue.register("billing.record", () => Promise.reject(new Error("ledger down")));
  queue.start({ billing: 1 });
  await waitFor(async () => await client.lLen(`${prefix}queue:retry`) === 1, "LLEN retry = 1");
  assertEquals(await client.lLen(`${prefix}queue:billing`), 0);
  const [waiting] = await client.lRange(`${prefix}queue:retry`, 0, -1);
  assertEquals(JSON.parse(waiting).attempts, 1);
  assertEquals((await queue.depths()).retry, 1);
});

test("the reaper hands the job of a worker whose heartbeat expired to another", async (setup) => {
  const { client, prefix } = setup.redis;
  // A worker that died holding a job: its processing list has it, its heartbeat is gone.
  const job: Job = {
    id: "job-of-dead-worker",
    queue: "default",
    task: "work",
    payload: {},
    attempts: 0,
    enqueuedAt: Date.now(),
  };
  await client.lPush(`${prefix}processing:ghost:default:0`, encodeJob(job));
  await client.hSet(
    `${prefix}workers`,
    "ghost:default:0",
    JSON.stringify({ queue: "default", lastSeenMs: Date.now() - 60_000, active: 1 }),
  );
  const queue = open(setup, { heartbeatTtlMs: 300 });
  const seen: string[] = [];
  queue.register("work", (job) => {
    seen.push(job.id);
    return Promise.resolve();
  });
  queue.start({ default: 1 });
  await waitFor(() => seen.length === 1, "the reaped job to run");
  assertEquals(seen, ["job-of-dead-worker"]);
  assertEquals(await client.lLen(`${prefix}processing:ghost:default:0`), 0);
  const workers = await queue.workers();
  const ghost = workers.find((worker) => worker.id === "ghost:default:0");
  assertEquals(ghost?.alive, false);
  assert(workers.some((worker) => worker.alive && worker.queue === "default"));
});

test("a job stranded in a live worker's own list, as a lost BLMOVE reply leaves it, still runs", async (setup) => {
  const { client, prefix } = setup.redis;
  const queue = open(setup, { workerId: "alive" });
  const seen: string[] = [];
  queue.register("work", (job) => {
    seen.push(job.id);
    return Promise.resolve();
  });
  queue.start({ default: 1 });
  await waitFor(async () => (await queue.workers()).some((w) => w.alive), "the worker to beat");
  const [worker] = await queue.workers();
  const job: Job = {
    id: "stranded",
    queue: "default",
    task: "work",
    payload: {},
    attempts: 0,
    enqueuedAt: Date.now(),
  };
  await client.lPush(`${prefix}processing:${worker.id}`, encodeJob(job));
  await waitFor(() => seen.length === 1, "the stranded job to run");
  assertEquals(seen, ["stranded"]);
  assertEquals(await client.lLen(`${prefix}processing:${worker.id}`), 0);
});

test("a job whose handler outlives stop()'s deadline goes back to its queue", async (setup) => {
  const { client, prefix } = setup.redis;
  const queue = open(setup);
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let started = false;
  queue.register("stuck", async () => {
    started = true;
    await released;
  });
  queue.start({ external: 1 });
  await queue.enqueue("external", "stuck", {});
  await waitFor(() => started, "the handler to start");
  await queue.stop(50);
  assertEquals(await client.lLen(`${prefix}queue:external`), 1);
  const keys = await client.keys(`${prefix}processing:*`);
  for (const key of keys) assertEquals(await client.lLen(key), 0);
  release();
  await new Promise((resolve) => setTimeout(resolve, 20));
});

test("with Redis down, enqueue spools to disk at once and a later instance pushes the jobs", async (setup) => {
  const { client, prefix } = setup.redis;
  const down: RedisConnection = createClient({
    url: "redis://127.0.0.1:1",
    socket: { connectTimeout: 500, reconnectStrategy: false },
  });
  down.on("error", () => {});
  await down.connect().catch(() => {});
  const logger = recordingLogger();
  const offline = open(setup, { redis: down, redisTimeoutMs: 200, logger });
  const started = performance.now();
  const ids = [
    await offline.enqueue("billing", "billing.record", { n: 1 }),
    await offline.enqueue("billing", "billing.record", { n: 2 }),
  ];
  assert(performance.now() - started < 300, `enqueue took ${performance.now() - started} ms`);
  assertEquals(logger.lines.filter((line) => line.event === "queue_job_spooled").length, 1);
  const spool = await Deno.readTextFile(`${setup.spoolDir}/${REDIS_SPOOL_FILE}`);
  assertEquals(spool.trim().split("\n").length, 2);
  await offline.stop(100);

  const online = open(setup, { spoolFlushIntervalMs: 20 });
  await waitFor(async () => await client.lLen(`${prefix}queue:billing`) === 2, "the flush");
  assertEquals((await online.depths()).spooled, 0);
  const seen: string[] = [];
  online.register("billing.record", (job) => {
    seen.push(job.id);
    return Promise.resolve();
  });
  online.start({ billing: 1 });
  await waitFor(() => seen.length === 2, "both jobs to run");
  assertEquals(seen.sort(), ids.sort());
});

test("enqueue takes no longer than the Redis timeout when Redis hangs", async (setup) => {
  // A server that answers the client's handshake with +OK, then never again.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  let answering = true;
  const serve = async (connection: Deno.Conn) => {
    const buffer = new Uint8Array(4096);
    while (true) {
      const read = await connection.read(buffer).catch(() => null);
      if (read === null) return;
      const text = new TextDecoder().decode(buffer.subarray(0, read));
      const commands = text.split(/(?:^|\r\n)\*\d+\r\n/).length - 1;
      if (answering) await connection.write(new TextEncoder().encode("+OK\r\n".repeat(commands)));
    }
  };
  const accepting = (async () => {
    for await (const connection of listener) {
      connections.push(connection);
      serve(connection);
    }
  })();
  const hung: RedisConnection = createClient({
    url: `redis://127.0.0.1:${listener.addr.port}`,
    socket: { connectTimeout: 5000, reconnectStrategy: false },
  });
  hung.on("error", () => {});
  try {
    await hung.connect();
    answering = false;
    assert(hung.isReady);
    const queue = open(setup, { redis: hung, redisTimeoutMs: 150 });
    const started = performance.now();
    await queue.enqueue("default", "work", {});
    const took = performance.now() - started;
    assert(took >= 140 && took < 400, `enqueue took ${took} ms`);
    assertEquals(await queue.depths().catch(() => "timeout"), "timeout");
    const spool = await Deno.readTextFile(`${setup.spoolDir}/${REDIS_SPOOL_FILE}`);
    assertEquals(spool.trim().split("\n").length, 1);
  } finally {
    if (hung.isOpen) hung.destroy();
    listener.close();
    for (const connection of connections) connection.close();
    await accepting.catch(() => {});
  }
});
