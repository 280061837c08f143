/** One upstream call's abort handle: its signal, and `done()` to call when the call is over. */
export interface CallScope {
  signal: AbortSignal;
  /** Stops watching the deadline and the client; call once the call has ended. */
  done(): void;
}

/** A shorter wait inside a call: for the answer's first byte, or the stream's next chunk. */
export type CallPhase = "first_byte" | "idle";

interface Pending {
  controller: AbortController;
  deadline: number;
  phase: CallPhase | undefined;
  phaseDeadline: number;
}

const PHASE_TEXT: Record<CallPhase, string> = {
  first_byte: "The upstream sent no answer in time",
  idle: "The upstream stream stalled",
};

/**
 * Deadlines for upstream calls, checked by one timer for all of them. A timer per request costs
 * more than the rest of the gateway's own work at high rates, and a deadline of minutes needs no
 * finer resolution than the tick. Besides its total deadline a call may be in one shorter phase
 * at a time (waiting for the first byte, or for the next chunk), armed and ended through its
 * signal by whoever does the reading.
 */
export class Deadlines {
  readonly #pending = new Map<AbortSignal, Pending>();
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
    const signal = controller.signal;
    this.#pending.set(signal, {
      controller,
      deadline: performance.now() + timeoutMs,
      phase: undefined,
      phaseDeadline: Infinity,
    });
    this.#ensureTimer();
    return {
      signal,
      done: () => {
        this.#pending.delete(signal);
        clientSignal.removeEventListener("abort", onClientAbort);
      },
    };
  }

  /**
   * Starts `phase` of the call whose scope gave `signal`: unless ended by {@linkcode endPhase}
   * within `timeoutMs`, the call aborts with a `TimeoutError`. Signals of no open scope are
   * ignored, so a reader need not know whether its call is watched.
   */
  startPhase(signal: AbortSignal, phase: CallPhase, timeoutMs: number): void {
    const pending = this.#pending.get(signal);
    if (pending === undefined) return;
    pending.phase = phase;
    pending.phaseDeadline = performance.now() + timeoutMs;
  }

  /** Ends the phase of the call whose scope gave `signal`. */
  endPhase(signal: AbortSignal): void {
    const pending = this.#pending.get(signal);
    if (pending === undefined) return;
    pending.phase = undefined;
    pending.phaseDeadline = Infinity;
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
    for (const [signal, pending] of this.#pending) {
      const phaseOver = pending.phaseDeadline <= now;
      if (pending.deadline > now && !phaseOver) continue;
      this.#pending.delete(signal);
      const message = phaseOver && pending.phase
        ? PHASE_TEXT[pending.phase]
        : "The upstream call took too long";
      pending.controller.abort(new DOMException(message, "TimeoutError"));
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
