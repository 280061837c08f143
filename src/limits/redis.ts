import {
  type LuaScript,
  type RedisConnection,
  runScript,
  runSteps,
  type ScriptStep,
} from "../redis/mod.ts";
import { CHECK_STEP, SETTLE_SCRIPT } from "./_lua.ts";
import {
  applicableLimits,
  type LimitOutcome,
  toDecision,
  tokenLimits,
  wholeDelta,
} from "./_plan.ts";
import type { LimitSubject, RateLimitDecision, RateLimiter } from "./types.ts";

/** Options of {@linkcode RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** The shared connection, e.g. from `connectRedis`; the limiter never closes it. */
  redis: RedisConnection;
  /** Put before every key; default "gw:". */
  prefix?: string;
  /** The longest a check or settle may wait for Redis before it rejects; default 50 ms. */
  timeoutMs?: number;
  /** The clock, in ms since the epoch; default `Date.now`. */
  now?: () => number;
  /**
   * Token corrections of one subject wait this long to go to Redis as one call; default 20 ms.
   * A limit of tokens per minute does not notice the wait; Redis does the work once per subject
   * and window instead of once per request.
   */
  settleDelayMs?: number;
}

/** Token corrections of one subject's limits waiting to go to Redis together. */
interface PendingSettlement {
  keys: string[];
  limits: number[];
  deltaTokens: number;
  done: PromiseWithResolvers<void>;
}

/**
 * The rate limiter every gateway instance shares: one Lua script call per check, so that limits
 * hold across instances. The time comes from the calling gateway rather than Redis' TIME: the
 * clocks of a few gateways differ by milliseconds, a limit's step is seconds, and the clock
 * stays injectable for tests.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: RedisConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #settleDelayMs: number;
  #pending = new Map<string, PendingSettlement>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  /** A limiter on `options.redis`; throws a RangeError when `timeoutMs` is not positive. */
  constructor(options: RedisRateLimiterOptions) {
    const timeoutMs = options.timeoutMs ?? 50;
    if (!(timeoutMs > 0) || timeoutMs === Infinity) {
      throw new RangeError(
        `Cannot create a Redis rate limiter as 'timeoutMs' must be a positive number: current value is ${timeoutMs}`,
      );
    }
    this.#redis = options.redis;
    this.#prefix = options.prefix ?? "gw:";
    this.#timeoutMs = timeoutMs;
    this.#now = options.now ?? Date.now;
    this.#settleDelayMs = Math.max(0, options.settleDelayMs ?? 20);
  }

  /** Checks and records every limit of `subject`, all or none, in one script call. */
  async check(subject: LimitSubject, estimatedTokens: number): Promise<RateLimitDecision> {
    const step = this.step(subject, estimatedTokens);
    if (step === undefined) return { allowed: true, state: {} };
    const { replies } = await runSteps(this.#redis, [step], this.#timeoutMs);
    return step.decode(replies[0]);
  }

  /**
   * The check as a step that another Redis script step can run with (see `runSteps`), on the
   * tenant's hash tag; undefined when no limit applies.
   */
  step(subject: LimitSubject, estimatedTokens: number): ScriptStep<RateLimitDecision> | undefined {
    const limits = applicableLimits(subject, estimatedTokens);
    if (limits.length === 0) return undefined;
    const args = [String(Math.floor(this.#now()))];
    for (const { limit, weight } of limits) args.push(String(limit), String(weight));
    return {
      lua: CHECK_STEP,
      keys: limits.map(({ key }) => this.#prefix + key),
      args,
      decode: (reply) => {
        const values = reply as unknown[];
        const outcomes: LimitOutcome[] = limits.map((_, i) => ({
          remaining: Number(values[3 * i]),
          resetMs: Number(values[3 * i + 1]),
          retryAfterMs: Number(values[3 * i + 2]),
        }));
        return toDecision(limits, outcomes);
      },
    };
  }

  /**
   * Adds `deltaTokens` (actual − estimated) to the token limits of `subject`, together with the
   * other corrections of the same limits within the settle delay; resolves once Redis has them.
   */
  settleTokens(subject: LimitSubject, deltaTokens: number): Promise<void> {
    const limits = tokenLimits(subject);
    if (wholeDelta(deltaTokens) === 0 || limits.length === 0) return Promise.resolve();
    const keys = limits.map(({ key }) => this.#prefix + key);
    const id = limits.map(({ key, limit }) => `${key}=${limit}`).join(" ");
    let pending = this.#pending.get(id);
    if (pending === undefined) {
      const done = Promise.withResolvers<void>();
      pending = { keys, limits: limits.map(({ limit }) => limit), deltaTokens: 0, done };
      this.#pending.set(id, pending);
    }
    pending.deltaTokens += wholeDelta(deltaTokens);
    this.#flushTimer ??= setTimeout(() => this.#flush(), this.#settleDelayMs);
    return pending.done.promise;
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const batch = this.#pending;
    this.#pending = new Map();
    const now = String(Math.floor(this.#now()));
    for (const { keys, limits, deltaTokens, done } of batch.values()) {
      // Closed on purpose (shutdown) within the delay: a per-minute correction is not worth a
      // failure that would read as an outage.
      if (deltaTokens === 0 || !this.#redis.isOpen) {
        done.resolve();
        continue;
      }
      this.#run(SETTLE_SCRIPT, keys, [now, String(deltaTokens), ...limits.map(String)])
        .then(() => done.resolve(), done.reject);
    }
  }

  #run(script: LuaScript, keys: string[], args: string[]): Promise<unknown[]> {
    return runScript(this.#redis, script, keys, args, this.#timeoutMs) as Promise<unknown[]>;
  }
}
