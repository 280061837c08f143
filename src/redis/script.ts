import { createHash } from "node:crypto";
import type { RedisConnection } from "./client.ts";

/** A Lua script's source and the SHA-1 that EVALSHA names it by. */
export interface LuaScript {
  source: string;
  sha: string;
}

/** Names `source` by its SHA-1 for EVALSHA. */
export function luaScript(source: string): LuaScript {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

/**
 * Runs `script` with EVALSHA, and EVAL when Redis lost it (a restart, SCRIPT FLUSH, a failover to
 * a replica that never saw it). With `deadlineMs`, rejects when Redis has not answered by then
 * (see {@linkcode withDeadline}).
 */
export function runScript(
  redis: RedisConnection,
  script: LuaScript,
  keys: string[],
  args: string[],
  deadlineMs?: number,
): Promise<unknown> {
  const options = { keys, arguments: args };
  const call = redis.evalSha(script.sha, options).catch((error: unknown) => {
    if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) throw error;
    return redis.eval(script.source, options);
  });
  return deadlineMs === undefined ? call : withDeadline(call, deadlineMs, "a script");
}

/** Rejects when `promise` has not settled within `ms` (node-redis alone may wait forever). */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`Redis did not answer ${what} within ${ms} ms`));
    }, ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
