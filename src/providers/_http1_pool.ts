import type { Http1Conn } from "./_http1_conn.ts";

/** Idle keep-alive connections per origin, most recently used first. */
export class Http1Pool {
  readonly #idle = new Map<string, Http1Conn[]>();
  readonly #maxIdlePerOrigin: number;
  readonly #idleTimeoutMs: number;
  #count = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: { maxIdlePerOrigin: number; idleTimeoutMs: number }) {
    this.#maxIdlePerOrigin = options.maxIdlePerOrigin;
    this.#idleTimeoutMs = options.idleTimeoutMs;
  }

  /** How many connections wait idle. */
  get idle(): number {
    return this.#count;
  }

  /**
   * The most recently used idle connection to `origin`: LIFO keeps the busy few warm and lets
   * the rest expire, and the newest is the least likely to have been closed by the upstream.
   */
  take(origin: string): Http1Conn | undefined {
    const stack = this.#idle.get(origin);
    if (stack === undefined) return undefined;
    const cutoff = performance.now() - this.#idleTimeoutMs;
    let conn: Http1Conn | undefined;
    while ((conn = stack.pop()) !== undefined) {
      this.#count--;
      if (conn.idleSince > cutoff) return conn;
      conn.close(); // expired, and the sweep has not run yet
    }
    return undefined;
  }

  /** Keeps `conn` for the next request to its origin, or closes it when the pool is full. */
  release(conn: Http1Conn): void {
    const stack = this.#idle.get(conn.origin);
    if (this.#closed || conn.closed || (stack?.length ?? 0) >= this.#maxIdlePerOrigin) {
      conn.close();
      return;
    }
    conn.reused = true;
    conn.idleSince = performance.now();
    if (stack) stack.push(conn);
    else this.#idle.set(conn.origin, [conn]);
    this.#count++;
    if (this.#timer === undefined) this.#startSweep();
  }

  /**
   * Closes the connections to `origin` idle since `since` or longer: after one of them turned
   * out closed by the upstream, older ones most likely were too (an upstream idle timeout).
   */
  dropIdleSince(origin: string, since: number): void {
    const stack = this.#idle.get(origin);
    if (!stack) return;
    let stale = 0;
    while (stale < stack.length && stack[stale].idleSince <= since) stack[stale++].close();
    if (stale > 0) this.#remove(origin, stack, stale);
  }

  /** Closes all idle connections and stops the sweep; connections released later are closed. */
  close(): void {
    this.#closed = true;
    for (const stack of this.#idle.values()) for (const conn of stack) conn.close();
    this.#idle.clear();
    this.#count = 0;
    this.#stopSweep();
  }

  #startSweep(): void {
    const interval = Math.max(10, Math.floor(this.#idleTimeoutMs / 2));
    const timer = setInterval(() => this.#sweep(), interval);
    // Idle connections are no reason to keep a process alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #stopSweep(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const cutoff = performance.now() - this.#idleTimeoutMs;
    for (const [origin, stack] of this.#idle) {
      // Oldest at the bottom: expired connections form a prefix.
      let expired = 0;
      while (expired < stack.length && stack[expired].idleSince <= cutoff) stack[expired++].close();
      if (expired > 0 || stack.length === 0) this.#remove(origin, stack, expired);
    }
    if (this.#count === 0) this.#stopSweep();
  }

  #remove(origin: string, stack: Http1Conn[], prefix: number): void {
    stack.splice(0, prefix);
    this.#count -= prefix;
    if (stack.length === 0) this.#idle.delete(origin);
  }
}
