// What the limiter tests share: a clock they move by hand, a logger that keeps its lines, subjects,
// and Redis. Redis is required, not optional, so that an unreachable server fails the tests; each
// test gets its own key prefix and removes its keys afterwards.
import { createClient } from "redis";
import type { GatewayLogger } from "../observability/logging.ts";
import type { RedisConnection } from "../redis/mod.ts";
import type { LimitSubject } from "./types.ts";

/** A clock that stands still until advanced. */
export interface FakeClock {
  now: () => number;
  advance(ms: number): void;
}

/** A {@linkcode FakeClock} starting at a realistic epoch time. */
export function fakeClock(start = 1_700_000_000_000): FakeClock {
  let time = start;
  return { now: () => time, advance: (ms) => time += ms };
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

/** A subject with the given limits, of a tenant and key unique to the test unless named. */
export function subject(
  limits: Partial<Pick<LimitSubject, "tenant" | "key">>,
  ids: { tenantId?: string; apiKeyId?: string } = {},
): LimitSubject {
  return {
    tenantId: ids.tenantId ?? `ten_${crypto.randomUUID()}`,
    apiKeyId: ids.apiKeyId ?? `key_${crypto.randomUUID()}`,
    tenant: limits.tenant ?? {},
    key: limits.key ?? {},
  };
}

/** Where the tests find Redis. */
export const REDIS_URL = Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";

/** Connected clients on one prefix of their own; disposing deletes its keys and closes them. */
export interface TestRedis extends AsyncDisposable {
  prefix: string;
  /** A new connection, closed on dispose. */
  connect(): Promise<RedisConnection>;
  /** The first connection, for looking at keys. */
  client: RedisConnection;
}

/** Opens a test's Redis; throws, naming the server, when it cannot be reached. */
export async function openTestRedis(): Promise<TestRedis> {
  const clients: RedisConnection[] = [];
  const connect = async () => {
    const client: RedisConnection = createClient({
      url: REDIS_URL,
      socket: { connectTimeout: 2000, reconnectStrategy: false },
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
    clients.push(client);
    return client;
  };
  const client = await connect();
  const prefix = `test:${crypto.randomUUID()}:`;
  return {
    prefix,
    client,
    connect,
    async [Symbol.asyncDispose]() {
      try {
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
          if (keys.length > 0) await client.del(keys);
        }
      } finally {
        for (const each of clients) if (each.isOpen) await each.close().catch(() => each.destroy());
      }
    },
  };
}
