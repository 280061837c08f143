import { HttpError } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { IdempotencyHold, IdempotencyKeyRef } from "../store/mod.ts";
import { decodeAnswer, encodeAnswer, type RecordedAnswer } from "./answer.ts";
import type { IdempotencyRecords } from "./types.ts";

/** What {@linkcode Idempotency} is built from. */
export interface IdempotencyOptions {
  records: IdempotencyRecords;
  /** How long a hold lasts unless renewed; the holder renews it at a third of this. */
  leaseMs: number;
  /** How long a retry waits for the first request to finish before a 409 with `Retry-After`. */
  waitMs: number;
  /** How long a finished request's answer is kept for replays. */
  retentionMs: number;
  /** Largest answer recorded, in bytes; a larger one is not kept (see the README). */
  maxAnswerBytes: number;
  logger: GatewayLogger;
  /** Told how each request's check went, e.g. to count it in a metric. */
  onOutcome?: (outcome: IdempotencyOutcome) => void;
}

/**
 * How a request's check went: it holds the key and runs (`claimed`), got the recorded answer
 * (`replayed`), or was refused: another request's key (`reused`, 422), still running past the wait
 * (`in_use`, 409), an answer not kept (`not_kept`, 409), its client left while waiting
 * (`client_closed`, 499), the records unreachable (`unavailable`, 503).
 */
export type IdempotencyOutcome =
  | "claimed"
  | "replayed"
  | "reused"
  | "in_use"
  | "not_kept"
  | "client_closed"
  | "unavailable";

/** How a request with an idempotency key goes on: it replays a recorded answer, or it runs. */
export type IdempotentStart = { replay: RecordedAnswer } | { hold: KeyHold };

/** A running request's hold on its key: it ends by recording the answer or by letting go. */
export interface KeyHold {
  /** Records the answer for replays; null when it succeeded but is too large to keep. */
  complete(answer: RecordedAnswer | null): Promise<void>;
  /** Frees the key (the request failed), so that a retry runs afresh. */
  release(): Promise<void>;
}

// The refusals' codes, as the outcomes they count as.
const OUTCOMES: Record<string, IdempotencyOutcome> = {
  idempotency_key_reused: "reused",
  idempotency_key_in_use: "in_use",
  idempotency_answer_not_kept: "not_kept",
  client_closed_request: "client_closed",
  idempotency_unavailable: "unavailable",
};

const FIRST_PAUSE_MS = 20;
const LONGEST_PAUSE_MS = 500;

/**
 * `Idempotency-Key` for the model routes: the first request with a key holds it while it runs, a
 * retry with the same fingerprint waits for it and replays its answer, another fingerprint is
 * refused. Retries on this instance are woken when the hold ends; those on others poll.
 */
export class Idempotency {
  readonly #options: IdempotencyOptions;
  // Holds of this process, by key, resolved when they end.
  readonly #local = new Map<string, PromiseWithResolvers<void>>();

  constructor(options: IdempotencyOptions) {
    for (const name of ["leaseMs", "retentionMs", "maxAnswerBytes"] as const) {
      if (!Number.isSafeInteger(options[name]) || options[name] <= 0) {
        throw new RangeError(
          `Cannot create the idempotency service as '${name}' must be a positive integer: current value is ${
            options[name]
          }`,
        );
      }
    }
    this.#options = options;
  }

  /** Largest answer recorded, in bytes. */
  get maxAnswerBytes(): number {
    return this.#options.maxAnswerBytes;
  }

  /**
   * Claims the key, or waits while another request holds it, and says how to go on. Throws a 422
   * for a key used with another fingerprint, a 409 when the wait ran out or the first answer was
   * not kept, a 499 when the client left while waiting, a 503 when the records cannot be reached.
   */
  async begin(
    ref: IdempotencyKeyRef,
    fingerprint: string,
    signal: AbortSignal,
  ): Promise<IdempotentStart> {
    const { onOutcome } = this.#options;
    try {
      const start = await this.#begin(ref, fingerprint, signal);
      onOutcome?.("replay" in start ? "replayed" : "claimed");
      return start;
    } catch (error) {
      if (error instanceof HttpError) onOutcome?.(OUTCOMES[error.code ?? ""] ?? "unavailable");
      throw error;
    }
  }

  async #begin(
    ref: IdempotencyKeyRef,
    fingerprint: string,
    signal: AbortSignal,
  ): Promise<IdempotentStart> {
    const { records, leaseMs, waitMs } = this.#options;
    const id = localId(ref);
    const deadline = performance.now() + waitMs;
    let pause = FIRST_PAUSE_MS;
    for (;;) {
      const hold = { ...ref, token: crypto.randomUUID() };
      const claim = await records.claim({ ...hold, fingerprint, leaseMs }).catch((error) => {
        this.#options.logger.warning("idempotency_unavailable", { error });
        throw unavailable(error);
      });
      switch (claim.outcome) {
        case "claimed":
          return { hold: this.#hold(id, hold) };
        case "mismatch":
          throw this.#mismatch();
        case "done":
          return { replay: this.#answerOf(claim.answer) };
      }
      const left = deadline - performance.now();
      if (left <= 0) throw inUse();
      const local = this.#local.get(id)?.promise;
      await pauseFor(local ? left : Math.min(left, pause), local, signal);
      pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
      if (signal.aborted) throw clientClosed();
    }
  }

  #hold(id: string, hold: IdempotencyHold): KeyHold {
    const { records, leaseMs, retentionMs, maxAnswerBytes, logger } = this.#options;
    const ended = Promise.withResolvers<void>();
    this.#local.set(id, ended);
    const renewal = setInterval(() => {
      records.renew(hold, leaseMs).then((held) => {
        if (!held) logger.warning("idempotency_hold_lost", { step: "renew" });
      }).catch((error) => logger.warning("idempotency_record_failed", { step: "renew", error }));
    }, Math.max(1, Math.floor(leaseMs / 3)));
    // A hold must not keep a process alive that has nothing else to do.
    Deno.unrefTimer(renewal);
    let done = false;
    const end = async (step: "complete" | "release", work: () => Promise<boolean | void>) => {
      if (done) return;
      done = true;
      clearInterval(renewal);
      try {
        if (await work() === false) logger.warning("idempotency_hold_lost", { step });
      } catch (error) {
        logger.warning("idempotency_record_failed", { step, error });
        if (step === "complete") await records.release(hold).catch(() => {});
      } finally {
        if (this.#local.get(id) === ended) this.#local.delete(id);
        ended.resolve();
      }
    };
    return {
      complete: (answer) =>
        end("complete", () => {
          const encoded = answer === null ? null : encodeAnswer(answer);
          const kept = encoded !== null && encoded.length <= maxAnswerBytes ? encoded : null;
          return records.complete(hold, { answer: kept, retentionMs });
        }),
      release: () => end("release", () => records.release(hold)),
    };
  }

  #answerOf(answer: Uint8Array | null): RecordedAnswer {
    if (answer === null) {
      throw new HttpError(
        409,
        `The request with this Idempotency-Key succeeded, but its answer was larger than ${this.#options.maxAnswerBytes} bytes and was not kept; send it with a new key to run it again`,
        { type: "invalid_request_error", code: "idempotency_answer_not_kept" },
      );
    }
    try {
      return decodeAnswer(answer);
    } catch (error) {
      this.#options.logger.warning("idempotency_unavailable", { error });
      throw unavailable(error);
    }
  }

  #mismatch(): HttpError {
    const hours = Math.round(this.#options.retentionMs / 3_600_000 * 10) / 10;
    return new HttpError(
      422,
      `This Idempotency-Key was already used with another request (method, path or body) within the last ${hours} hours; use a new key for a new request`,
      { type: "invalid_request_error", code: "idempotency_key_reused" },
    );
  }
}

function localId(ref: IdempotencyKeyRef): string {
  return `${ref.tenantId}\u0000${ref.apiKeyId}\u0000${ref.key}`;
}

/** Resolves after `ms`, when `local` settles, or when `signal` aborts, whichever comes first. */
function pauseFor(ms: number, local: Promise<void> | undefined, signal: AbortSignal) {
  if (signal.aborted) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  const timer = setTimeout(resolve, ms);
  const onAbort = () => resolve();
  signal.addEventListener("abort", onAbort, { once: true });
  local?.then(onAbort);
  return promise.finally(() => {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  });
}

function inUse(): HttpError {
  return new HttpError(
    409,
    "A request with this Idempotency-Key is still running; retry after it has finished",
    {
      type: "invalid_request_error",
      code: "idempotency_key_in_use",
      headers: { "retry-after": "1" },
    },
  );
}

function clientClosed(): HttpError {
  return new HttpError(499, "The client closed the request", {
    type: "invalid_request_error",
    code: "client_closed_request",
  });
}

function unavailable(cause: unknown): HttpError {
  return new HttpError(
    503,
    "Idempotency keys cannot be checked right now; retry later, or send the request without an Idempotency-Key",
    {
      type: "service_unavailable",
      code: "idempotency_unavailable",
      headers: { "retry-after": "1" },
      cause,
    },
  );
}
