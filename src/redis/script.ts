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
 * a replica that never saw it). With `deadlineMs`, rejects when Redis has not answered by then:
 * node-redis' own timeout stops only commands not yet written, and one that a stalled server never
 * answers would otherwise hold its caller forever.
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
  if (deadlineMs === undefined) return call;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`Redis did not answer within ${deadlineMs} ms`));
    }, deadlineMs);
    call.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
