import type { UpstreamErrorClass } from "../observability/metrics.ts";

/** Options of an {@linkcode UpstreamError}. */
export interface UpstreamErrorOptions {
  /** The upstream's HTTP status, when it answered. */
  status?: number;
  /** Seconds the upstream asked us to wait, from its `Retry-After`. */
  retryAfterSeconds?: number;
  /** The OpenAI error `code` the client should see for a 4xx, e.g. `content_filter`. */
  code?: string;
  /** The request field the error concerns, for OpenAI's error `param`. */
  param?: string;
  cause?: unknown;
}

/**
 * A failed upstream call, classified. Its message may be shown to the client, so it is built
 * by the gateway and never holds the upstream's key or raw body.
 */
export class UpstreamError extends Error {
  readonly errorClass: UpstreamErrorClass;
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly code: string | undefined;
  readonly param: string | undefined;

  constructor(errorClass: UpstreamErrorClass, message: string, options: UpstreamErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "UpstreamError";
    this.errorClass = errorClass;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.code = options.code;
    this.param = options.param;
  }
}

/** Classifies an upstream HTTP error status. */
export function classifyStatus(status: number): UpstreamErrorClass {
  if (status === 429) return "rate_limited";
  if (status === 401 || status === 403) return "auth";
  if (status === 408 || status === 504) return "timeout";
  if (status >= 500) return "server_error";
  return "client_error";
}

/**
 * Classifies an exception thrown by `fetch` or a stream read: the call's own signal tells a
 * client that went away from a deadline that passed; anything else is a connection failure.
 */
export function classifyThrown(error: unknown, signal: AbortSignal): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (signal.aborted) {
    const reason = signal.reason;
    if (reason instanceof DOMException && reason.name === "TimeoutError") {
      return new UpstreamError("timeout", "The upstream did not answer in time", { cause: error });
    }
    return new UpstreamError("canceled", "The client closed the request", { cause: error });
  }
  return new UpstreamError("connect", "Could not reach the upstream", { cause: error });
}
