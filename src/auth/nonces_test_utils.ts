/**
 * Real Redis for the nonce tests. Redis is required, not optional: when it is unreachable these
 * tests fail. Each use gets its own key prefix, and its keys are deleted afterwards.
 * @module
 */
import { openTestRedis, REDIS_URL } from "../../tests/redis_testing.ts";
import type { RedisConnection } from "../redis/mod.ts";

/** Where the tests find Redis. */
export const TEST_REDIS_URL = REDIS_URL;

/** Connections to the test Redis under one random key prefix. */
export interface TestRedis {
  /** `test:<random>:`, unique to this use. */
  prefix: string;
  /** A new connection, closed when the test ends. */
  connect(): Promise<RedisConnection>;
}

/** Runs `fn` with connections to the test Redis; deletes the prefix's keys and closes them all. */
export async function withTestRedis(fn: (redis: TestRedis) => Promise<void>): Promise<void> {
  await using redis = await openTestRedis();
  await fn({ prefix: redis.prefix, connect: redis.connect });
}
