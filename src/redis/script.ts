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
    const pending = deadlinesOf(ms).add(() => {
      reject(new Error(`Redis did not answer ${what} within ${ms} ms`));
    });
    promise.then(resolve, reject).finally(() => pending.settled = true);
  });
}

interface Pending {
  at: number;
  expire: () => void;
  settled: boolean;
}

/**
 * The calls waiting under one deadline length, oldest first, with one timer for all of them: a
 * timer per Redis call (several per request) costs more than the call itself. As every entry has
 * the same length, the order of adding is the order of expiring.
 */
class DeadlineQueue {
  readonly #ms: number;
  #entries: Pending[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  add(expire: () => void): Pending {
    const pending = { at: performance.now() + this.#ms, expire, settled: false };
    this.#dropSettled();
    this.#entries.push(pending);
    if (this.#timer === undefined) this.#arm();
    return pending;
  }

  #dropSettled(): void {
    while (this.#head < this.#entries.length && this.#entries[this.#head].settled) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(): void {
    this.#dropSettled();
    const first = this.#entries[this.#head];
    if (first === undefined) {
      this.#timer = undefined;
      return;
    }
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, first.at - performance.now()));
    // A pending deadline must not keep a process alive that has nothing else to do.
    Deno.unrefTimer(this.#timer);
  }

  #fire(): void {
    const now = performance.now();
    while (this.#head < this.#entries.length && this.#entries[this.#head].at <= now) {
      const pending = this.#entries[this.#head++];
      if (!pending.settled) {
        pending.settled = true;
        pending.expire();
      }
    }
    this.#arm();
  }
}

const deadlines = new Map<number, DeadlineQueue>();

function deadlinesOf(ms: number): DeadlineQueue {
  let queue = deadlines.get(ms);
  if (queue === undefined) {
    queue = new DeadlineQueue(ms);
    deadlines.set(ms, queue);
  }
  return queue;
}
