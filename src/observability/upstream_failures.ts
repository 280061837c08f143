/**
 * The last few upstream failures, kept in memory for the status page: what the `upstream_error`
 * log lines say, without a log pipeline to search them.
 */
import { scrubString } from "./_log_redact.ts";
import { currentLogContext } from "./logging.ts";

/** The fields of one `upstream_error` event, as they are logged (extra fields are ignored). */
export interface UpstreamErrorEvent {
  provider: string;
  /** The name of the deployment that failed. */
  deployment: string;
  /** The model the client asked for. */
  model: string;
  /** The model name sent upstream, when it differs. */
  upstream_model?: string;
  /** The error class, e.g. `server_error` or `timeout`. */
  error_class: string;
  upstream_status?: number;
  latency_ms?: number;
  detail?: string;
}

/** One recorded failure: the event, when it happened and the request's trace id. */
export interface UpstreamFailure {
  /** When it was recorded, in ms since the epoch. */
  atMs: number;
  traceId: string | null;
  provider: string;
  deployment: string;
  model: string;
  upstreamModel: string | null;
  errorClass: string;
  upstreamStatus: number | null;
  latencyMs: number | null;
  /** The error's message, secrets scrubbed, cut to {@linkcode MAX_DETAIL_CHARS}. */
  detail: string | null;
}

/** Where the pipeline reports an upstream failure. */
export interface UpstreamFailureRecorder {
  /** Records one failure; never throws, never waits. */
  record(event: UpstreamErrorEvent): void;
}

/** Longest detail kept: enough to tell failures apart, not a whole upstream error page. */
export const MAX_DETAIL_CHARS = 300;

/** A bounded ring of the newest upstream failures of this process. */
export class RecentUpstreamFailures implements UpstreamFailureRecorder {
  readonly #capacity: number;
  readonly #ring: UpstreamFailure[] = [];
  #next = 0;

  /** Keeps the newest `capacity` failures (default 50). */
  constructor(capacity = 50) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot keep failures as 'capacity' must be a positive integer: current value is ${capacity}`,
      );
    }
    this.#capacity = capacity;
  }

  /** Records one failure, with the trace id of the request being served, if any. */
  record(event: UpstreamErrorEvent): void {
    const traceId = currentLogContext().trace_id;
    const detail = event.detail === undefined ? null : scrubString(event.detail);
    const failure: UpstreamFailure = {
      atMs: Date.now(),
      traceId: typeof traceId === "string" ? traceId : null,
      provider: event.provider,
      deployment: event.deployment,
      model: event.model,
      upstreamModel: event.upstream_model ?? null,
      errorClass: event.error_class,
      upstreamStatus: event.upstream_status ?? null,
      latencyMs: event.latency_ms ?? null,
      detail: detail === null || detail.length <= MAX_DETAIL_CHARS
        ? detail
        : `${detail.slice(0, MAX_DETAIL_CHARS - 1)}…`,
    };
    if (this.#ring.length < this.#capacity) this.#ring.push(failure);
    else this.#ring[this.#next] = failure;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** The failures kept, newest first. */
  list(): UpstreamFailure[] {
    const oldestFirst = this.#ring.length < this.#capacity
      ? this.#ring
      : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return oldestFirst.map((failure) => ({ ...failure })).reverse();
  }
}
