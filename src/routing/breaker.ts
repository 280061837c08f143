/** A circuit's state: calls pass (closed), are refused (open), or a few probe it (half-open). */
export type CircuitState = "closed" | "half_open" | "open";

/** What one call through a circuit came to. */
export type CallVerdict =
  /** The deployment answered as it should. */
  | "success"
  /** The deployment failed: unreachable, too slow, overloaded or answering garbage. */
  | "failure"
  /** Says nothing about the deployment: the client went away or caused the error. */
  | "neutral";

/** Settings of a {@linkcode CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** The failed share of calls in the window, from 0 to 1, at which the circuit opens. */
  failureRatio: number;
  /** Calls needed in the window before the ratio may open the circuit. */
  minCalls: number;
  /** How far back calls count, in milliseconds. */
  windowMs: number;
  /** How long the circuit stays open before probes may go through. */
  cooldownMs: number;
  /** Probe calls let through at once when half-open; that many successes close the circuit. */
  halfOpenProbes: number;
  /** Milliseconds on a monotonic clock; `performance.now` by default. */
  now?: () => number;
  /** Told of every change of state, with the window's counts when the circuit opens. */
  onStateChange?: (change: CircuitChange) => void;
}

/** One change of a circuit's state. */
export interface CircuitChange {
  from: CircuitState;
  to: CircuitState;
  /** Calls and failures in the window when the circuit opened from closed. */
  calls?: number;
  failures?: number;
}

/** Leave to make one call; report its verdict once. */
export interface CircuitPermit {
  report(verdict: CallVerdict): void;
}

const BUCKETS = 10;

interface Bucket {
  /** The bucket's index in time (`floor(now / bucketMs)`); counts belong to it alone. */
  slot: number;
  calls: number;
  failures: number;
}

/**
 * A circuit breaker for one deployment. Closed, it counts calls and failures over a sliding
 * window (ten buckets) and opens when the failed share reaches `failureRatio` over at least
 * `minCalls` calls. Open, it refuses calls for `cooldownMs`; then the next caller moves it to
 * half-open and becomes a probe. Half-open, up to `halfOpenProbes` probes run at once; a probe's
 * failure opens it again, and `halfOpenProbes` successes close it. Verdicts of calls let through
 * in an earlier state are ignored, so a slow call from before cannot close a circuit.
 */
export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  readonly #now: () => number;
  readonly #bucketMs: number;
  readonly #buckets: Bucket[] = Array.from({ length: BUCKETS }, () => ({
    slot: -1,
    calls: 0,
    failures: 0,
  }));
  #state: CircuitState = "closed";
  /** Changes with every transition: a permit from another generation is ignored. */
  #generation = 0;
  #openedAt = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;

  constructor(options: CircuitBreakerOptions) {
    for (
      const [name, value, min] of [
        ["minCalls", options.minCalls, 1],
        ["windowMs", options.windowMs, 1],
        ["cooldownMs", options.cooldownMs, 0],
        ["halfOpenProbes", options.halfOpenProbes, 1],
      ] as const
    ) {
      if (!(value >= min)) {
        throw new RangeError(
          `Cannot create the circuit breaker as '${name}' must be at least ${min}: current value is ${value}`,
        );
      }
    }
    if (!(options.failureRatio > 0 && options.failureRatio <= 1)) {
      throw new RangeError(
        `Cannot create the circuit breaker as 'failureRatio' must be above 0 and at most 1: current value is ${options.failureRatio}`,
      );
    }
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#bucketMs = options.windowMs / BUCKETS;
  }

  /**
   * The state now: an open circuit past its cooldown reads half-open, as its next call will be a
   * probe, although it changes (and says so) only when that call comes.
   */
  get state(): CircuitState {
    if (this.#state === "open" && this.#now() - this.#openedAt >= this.#options.cooldownMs) {
      return "half_open";
    }
    return this.#state;
  }

  /** Whether {@linkcode acquire} would give a permit now. */
  get available(): boolean {
    if (this.#state === "closed") return true;
    if (this.#state === "half_open") return this.#probesInFlight < this.#options.halfOpenProbes;
    return this.#now() - this.#openedAt >= this.#options.cooldownMs;
  }

  /** A permit for one call, or undefined when the circuit refuses it. */
  acquire(): CircuitPermit | undefined {
    if (!this.available) return undefined;
    if (this.#state === "open") this.#transition("half_open");
    const generation = this.#generation;
    if (this.#state === "closed") {
      return { report: (verdict) => this.#reportClosed(generation, verdict) };
    }
    this.#probesInFlight++;
    let reported = false;
    return {
      report: (verdict) => {
        if (reported) return;
        reported = true;
        this.#reportProbe(generation, verdict);
      },
    };
  }

  #reportClosed(generation: number, verdict: CallVerdict): void {
    if (generation !== this.#generation || verdict === "neutral") return;
    const now = this.#now();
    const bucket = this.#bucketAt(now);
    bucket.calls++;
    if (verdict === "success") return;
    bucket.failures++;
    const { calls, failures } = this.#windowTotals(now);
    if (calls >= this.#options.minCalls && failures >= this.#options.failureRatio * calls) {
      this.#transition("open", { calls, failures });
    }
  }

  #reportProbe(generation: number, verdict: CallVerdict): void {
    if (generation !== this.#generation) return;
    this.#probesInFlight--;
    if (verdict === "failure") {
      this.#transition("open");
    } else if (verdict === "success" && ++this.#probeSuccesses >= this.#options.halfOpenProbes) {
      this.#transition("closed");
    }
  }

  #transition(to: CircuitState, counts: { calls?: number; failures?: number } = {}): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    if (to === "open") this.#openedAt = this.#now();
    // A closed circuit starts from a clean window: the failures that opened it are history.
    if (to === "closed") {
      for (const bucket of this.#buckets) bucket.calls = bucket.failures = 0;
    }
    this.#options.onStateChange?.({ from, to, ...counts });
  }

  #bucketAt(now: number): Bucket {
    const slot = Math.floor(now / this.#bucketMs);
    const bucket = this.#buckets[slot % BUCKETS];
    if (bucket.slot !== slot) {
      bucket.slot = slot;
      bucket.calls = 0;
      bucket.failures = 0;
    }
    return bucket;
  }

  #windowTotals(now: number): { calls: number; failures: number } {
    const oldest = Math.floor(now / this.#bucketMs) - BUCKETS + 1;
    let calls = 0;
    let failures = 0;
    for (const bucket of this.#buckets) {
      if (bucket.slot < oldest) continue;
      calls += bucket.calls;
      failures += bucket.failures;
    }
    return { calls, failures };
  }
}
