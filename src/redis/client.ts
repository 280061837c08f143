import type { createClient } from "redis";
import type { GatewayLogger } from "../observability/logging.ts";

/** The Redis connection as the gateway uses it. */
export type RedisConnection = ReturnType<typeof createClient>;

/** Options of {@linkcode connectRedis}. */
export interface ConnectRedisOptions {
  url: string;
  logger: GatewayLogger;
  /** Bound on connecting and on each reconnect attempt. */
  connectTimeoutMs?: number;
}

/**
 * Opens a Redis connection that reconnects forever with capped backoff and never takes the
 * process down: errors are logged (at most once per outage) instead of thrown from an event.
 * Start-up does not wait for Redis; `/ready` reports it until it answers. The client library is
 * loaded here, so that a gateway without Redis never holds it in its heap.
 */
export async function connectRedis(options: ConnectRedisOptions): Promise<RedisConnection> {
  const { createClient } = await import("redis");
  const client = createClient({
    url: options.url,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 2000,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000),
    },
    disableOfflineQueue: true,
  });
  let down = false;
  client.on("error", (error: unknown) => {
    if (down) return;
    down = true;
    options.logger.warning("redis_unavailable", { error });
  });
  client.on("ready", () => {
    if (down) options.logger.info("redis_recovered", {});
    down = false;
  });
  client.connect().catch(() => {
    // Reported by the error handler above; reconnection continues in the background.
  });
  return client;
}

/** Resolves when Redis answers PING; rejects when it does not. */
export async function pingRedis(client: RedisConnection): Promise<void> {
  if (!client.isReady) throw new Error("Redis is not connected");
  await client.ping();
}

/** Closes the connection, abandoning what is still queued. */
export async function closeRedis(client: RedisConnection): Promise<void> {
  if (client.isOpen) await client.close().catch(() => client.destroy());
  else client.destroy();
}
