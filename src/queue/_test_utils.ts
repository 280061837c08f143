// What the queue tests share: Redis (required: an unreachable server fails the tests) on a key
// prefix of each test's own, temporary spool directories, a recording logger and observer.
import type { QueueObserver } from "./types.ts";

export {
  type LoggedLine,
  openTestRedis,
  recordingLogger,
  REDIS_URL,
  type TestRedis,
} from "../../tests/redis_testing.ts";

/** A temporary directory, removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "gateway_queue_test_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** An observer that keeps its calls as "sent:queue:task", "succeeded:…", "failed:…:retry|dead". */
export function recordingObserver(): QueueObserver & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    jobSent: (queue, task) => calls.push(`sent:${queue}:${task}`),
    jobSucceeded: (queue, task) => calls.push(`succeeded:${queue}:${task}`),
    jobFailed: (queue, task, _seconds, willRetry) =>
      calls.push(`failed:${queue}:${task}:${willRetry ? "retry" : "dead"}`),
  };
}

/** Resolves once `condition` holds; rejects, naming `what`, after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A handler that records the size of each batch it is run in: the handlers of one batch all start
 * in the same synchronous run, before any of them goes on.
 */
export function batchRecorder(): { handler: () => Promise<void>; batches: number[] } {
  const batches: number[] = [];
  let starting = 0;
  const handler = async () => {
    starting++;
    await Promise.resolve();
    if (starting > 0) batches.push(starting);
    starting = 0;
  };
  return { handler, batches };
}
