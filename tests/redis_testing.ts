/**
 * @module
 * What tests of Redis-backed code share: connections to a real Redis (required: an unreachable
 * server fails the tests, never skips them) under a key prefix of each test's own, removed
 * afterwards, and a logger that keeps its lines.
 */
import { createClient } from "redis";
import type { GatewayLogger } from "../src/observability/logging.ts";
import type { RedisConnection } from "../src/redis/mod.ts";

/** Where the tests find Redis. */
export const REDIS_URL = Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";

/** Connections on one prefix of their own; disposing deletes its keys and closes them. */
export interface TestRedis extends AsyncDisposable {
  /** `test:<random>:`, unique to this test. */
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
      disableOfflineQueue: true,
    });
    // Failures surface through the failing command or connect() instead.
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
        const cleaner = clients.find((each) => each.isReady) ?? await connect();
        for await (const keys of cleaner.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
          if (keys.length > 0) await cleaner.del(keys);
        }
      } finally {
        // A client a test closed itself needs nothing more.
        for (const each of clients) if (each.isOpen) await each.close().catch(() => each.destroy());
      }
    },
  };
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

/** Options of {@linkcode startPrivateRedis}. */
export interface PrivateRedisOptions {
  port: number;
  /** Its working folder; with `persist`, where its append-only file lives across restarts. */
  dir: string;
  /** Keep data across a restart (append-only file, fsync'd on every write). */
  persist?: boolean;
}

/**
 * A redis-server of a test's own, for tests that stop and restart Redis: the shared one on 6379
 * must never be touched. Resolves once it answers PING.
 */
export async function startPrivateRedis(options: PrivateRedisOptions): Promise<Deno.ChildProcess> {
  const persistence = options.persist
    ? ["--appendonly", "yes", "--appendfsync", "always"]
    : ["--appendonly", "no"];
  const child = new Deno.Command("redis-server", {
    args: [
      ...["--port", String(options.port), "--bind", "127.0.0.1", "--daemonize", "no"],
      ...["--save", "", ...persistence, "--dir", options.dir],
      ...["--logfile", `${options.dir}/redis.log`],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 5000;
  while (await redisCli(options.port, "PING") !== "PONG") {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`redis-server on port ${options.port} did not answer PING within 5 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return child;
}

/** Runs one `redis-cli` command against 127.0.0.1:`port`; its trimmed output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(port), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout).trim();
}
