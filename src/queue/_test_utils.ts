// What the queue tests share: Redis (required: an unreachable server fails the tests) on a key
// prefix of each test's own, temporary spool directories, a recording logger and observer.
import { createClient } from "redis";
import type { GatewayLogger } from "../observability/logging.ts";
import type { RedisConnection } from "../redis/mod.ts";
import type { QueueObserver } from "./types.ts";

/** Where the tests find Redis. */
export const REDIS_URL = Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";

/** A connected client and a prefix of the test's own; disposing deletes the keys and closes. */
export interface TestRedis extends AsyncDisposable {
  prefix: string;
  client: RedisConnection;
}

/** Opens the test Redis; throws, naming the server, when it cannot be reached. */
export async function openTestRedis(): Promise<TestRedis> {
  const client: RedisConnection = createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 2000, reconnectStrategy: false },
    disableOfflineQueue: true,
  });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    if (client.isOpen) client.destroy();
    throw new Error(`Redis at ${new URL(REDIS_URL).host} is required for these tests`, {
      cause: error,
    });
  }
  const prefix = `test:${crypto.randomUUID()}:`;
  return {
    prefix,
    client,
    async [Symbol.asyncDispose]() {
      try {
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
          if (keys.length > 0) await client.del(keys);
        }
      } finally {
        await client.close().catch(() => client.destroy());
      }
    },
  };
}

/** A temporary directory, removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "gateway_queue_test_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** One logged line. */
export interface LoggedLine {
  level: string;
  event: string;
  fields?: Record<string, unknown>;
}

/** A logger that keeps what it is given in `lines`. */
export function recordingLogger(): GatewayLogger & { lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at = (level: string) => (event: string, fields?: Record<string, unknown>) => {
    lines.push({ level, event, fields });
  };
  return {
    lines,
    debug: at("DEBUG"),
    info: at("INFO"),
    warning: at("WARNING"),
    error: at("ERROR"),
    critical: at("CRITICAL"),
  };
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
