/**
 * Real Redis for the nonce tests. Redis is required, not optional: when it is unreachable these
 * tests fail. Each use gets its own key prefix, and its keys are deleted afterwards.
 * @module
 */
import { createClient } from "redis";
import type { RedisConnection } from "../redis/mod.ts";

/** Where the tests find Redis. */
export const TEST_REDIS_URL = Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";

/** Connections to the test Redis under one random key prefix. */
export interface TestRedis {
  /** `test:<random>:`, unique to this use. */
  prefix: string;
  /** A new connection, closed when the test ends. */
  connect(): Promise<RedisConnection>;
}

/** Runs `fn` with connections to the test Redis; deletes the prefix's keys and closes them all. */
export async function withTestRedis(fn: (redis: TestRedis) => Promise<void>): Promise<void> {
  const prefix = `test:${crypto.randomUUID()}:`;
  const opened: RedisConnection[] = [];
  const connect = async () => {
    const client: RedisConnection = createClient({
      url: TEST_REDIS_URL,
      socket: { connectTimeout: 2000, reconnectStrategy: false },
      disableOfflineQueue: true,
    });
    client.on("error", () => {
      // Surfaced by the failing command or connect() instead.
    });
    try {
      await client.connect();
    } catch (error) {
      if (client.isOpen) client.destroy();
      throw new Error(`Redis at ${new URL(TEST_REDIS_URL).host} is required for these tests`, {
        cause: error,
      });
    }
    opened.push(client);
    return client;
  };
  try {
    await fn({ prefix, connect });
  } finally {
    try {
      // Without a connection nothing was written, so there is nothing to clean up.
      const cleaner = opened.length > 0
        ? opened.find((client) => client.isReady) ?? await connect()
        : undefined;
      if (cleaner) {
        for await (const keys of cleaner.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
          if (keys.length > 0) await cleaner.del(keys);
        }
      }
    } finally {
      for (const client of opened) {
        if (client.isOpen) await client.close();
        else client.destroy();
      }
    }
  }
}
