/** One upstream call's abort handle: its signal, and `done()` to call when the call is over. */
export interface CallScope {
  signal: AbortSignal;
  /** Stops watching the deadline and the client; call once the call has ended. */
  done(): void;
}

/**
 * Deadlines for upstream calls, checked by one timer for all of them. A timer per request costs
 * more than the rest of the gateway's own work at high rates, and a deadline of minutes needs no
 * finer resolution than the tick.
 */
export class Deadlines {
  readonly #pending = new Map<AbortController, number>();
  readonly #tickMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: { tickMs?: number } = {}) {
    this.#tickMs = options.tickMs ?? 100;
  }

  /**
   * A scope whose signal aborts with a `TimeoutError` after `timeoutMs`, or with the client's
   * reason when `clientSignal` aborts first.
   */
  open(timeoutMs: number, clientSignal: AbortSignal): CallScope {
    const controller = new AbortController();
    if (clientSignal.aborted) {
      controller.abort(clientSignal.reason);
      return { signal: controller.signal, done: () => {} };
    }
    const onClientAbort = () => controller.abort(clientSignal.reason);
    clientSignal.addEventListener("abort", onClientAbort, { once: true });
    this.#pending.set(controller, performance.now() + timeoutMs);
    this.#ensureTimer();
    return {
      signal: controller.signal,
      done: () => {
        this.#pending.delete(controller);
        clientSignal.removeEventListener("abort", onClientAbort);
      },
    };
  }

  /** Calls being watched. */
  get size(): number {
    return this.#pending.size;
  }

  #ensureTimer(): void {
    if (this.#timer !== undefined) return;
    // Not unref'd: it runs only while calls are pending, and stops itself when none are.
    this.#timer = setInterval(() => this.#sweep(), this.#tickMs);
  }

  #sweep(): void {
    const now = performance.now();
    for (const [controller, deadline] of this.#pending) {
      if (deadline > now) continue;
      this.#pending.delete(controller);
      controller.abort(new DOMException("The upstream call took too long", "TimeoutError"));
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
