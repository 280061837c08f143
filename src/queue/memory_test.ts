// What only the memory queue does: its journal is the only copy of a job, so a crash (an instance
// that is never stopped) must lose nothing, and retry and dead-letter states survive a restart.
import { assertEquals } from "../../tests/assert.ts";
import { MemoryJobQueue, type MemoryJobQueueOptions } from "./memory.ts";
import { batchRecorder, recordingLogger, tempDir, waitFor } from "./_test_utils.ts";

function open(spoolDir: string, options: Partial<MemoryJobQueueOptions> = {}) {
  return new MemoryJobQueue({ spoolDir, logger: recordingLogger(), backoffBaseMs: 20, ...options });
}

Deno.test("memory queue: a job running when the process crashed runs again after a restart", async () => {
  await using dir = await tempDir();
  const crashed = open(dir.path);
  let release!: () => void;
  const hanging = new Promise<void>((resolve) => release = resolve);
  let started = false;
  crashed.register("work", async () => {
    started = true;
    await hanging;
  });
  crashed.start({ default: 1 });
  const id = await crashed.enqueue("default", "work", {});
  await waitFor(() => started, "the handler to start");

  // The crashed instance never stops; a new one on the same spool directory replays its journal.
  const restarted = open(dir.path);
  const seen: string[] = [];
  restarted.register("work", (job) => {
    seen.push(job.id);
    return Promise.resolve();
  });
  restarted.start({ default: 1 });
  await waitFor(() => seen.length === 1, "the replayed job");
  assertEquals(seen, [id]);
  release();
  await crashed.stop(1000);
  await restarted.stop(1000);
});

Deno.test("memory queue: jobs waiting for a retry and dead letters survive a restart", async () => {
  await using dir = await tempDir();
  const first = open(dir.path, { maxAttempts: 2, backoffBaseMs: 60_000 });
  first.register("fails", () => Promise.reject(new Error("no")));
  first.start({ default: 1 });
  await first.enqueue("default", "fails", { n: 1 });
  await waitFor(async () => (await first.depths()).retry === 1, "the retry");
  await first.stop(1000);

  const second = open(dir.path, { maxAttempts: 1 });
  assertEquals((await second.depths()).retry, 1);
  await second.stop(1000);

  const third = open(dir.path, { maxAttempts: 1 });
  third.register("fails", () => Promise.reject(new Error("still no")));
  third.start({ default: 1 });
  await third.enqueue("default", "fails", { n: 2 });
  await waitFor(async () => (await third.depths()).dead === 1, "the dead letter");
  await third.stop(1000);

  const fourth = open(dir.path);
  const [dead] = await fourth.deadLetters({ offset: 0, limit: 10 });
  assertEquals({ payload: dead.payload, lastError: dead.lastError }, {
    payload: { n: 2 },
    lastError: "still no",
  });
  assertEquals(await fourth.redrive(dead.id), true);
  assertEquals((await fourth.depths()).default, 1);
  await fourth.stop(1000);
});

Deno.test("memory queue: jobs queued at a low rate run together, and a stop runs the ones its workers woke for", async () => {
  await using dir = await tempDir();
  const queue = open(dir.path);
  const { handler, batches } = batchRecorder();
  queue.register("work", handler);
  queue.start({ default: 1 });
  await Promise.all([1, 2, 3].map((n) => queue.enqueue("default", "work", { n })));
  await waitFor(() => batches.length > 0, "the batch");
  assertEquals(batches, [3]);

  // Queued right before the stop: the worker woken for it runs it instead of waiting on.
  await queue.enqueue("default", "work", { n: 4 });
  await queue.stop(1000);
  assertEquals(batches, [3, 1]);
  assertEquals((await queue.depths()).default, 0);
});
