/** OpenAI's error `type` values that the gateway itself returns. */
export type OpenAIErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "insufficient_quota"
  | "api_error"
  | "upstream_error"
  | "timeout_error"
  | "service_unavailable";

/** The body of every error the gateway answers: OpenAI's shape. */
export interface OpenAIErrorBody {
  error: { message: string; type: OpenAIErrorType; code: string | null; param: string | null };
}

/** Options of an {@linkcode HttpError} beyond its status and message. */
export interface HttpErrorOptions {
  type: OpenAIErrorType;
  code?: string;
  param?: string;
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The one error type that crosses layers: a status, OpenAI's error `type` and `code`, and headers
 * to send with it. Its message is shown to the client, so it never holds a secret.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, options: HttpErrorOptions) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.type = options.type;
    this.code = options.code ?? null;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }

  /** The OpenAI error body for this error. */
  toBody(): OpenAIErrorBody {
    return {
      error: { message: this.message, type: this.type, code: this.code, param: this.param },
    };
  }
}

/** 400: the request is malformed or fails validation. */
export function badRequest(message: string, code = "invalid_request", param?: string): HttpError {
  return new HttpError(400, message, { type: "invalid_request_error", code, param });
}

/** 401: missing or wrong credentials. */
export function unauthorized(message: string, code = "invalid_api_key"): HttpError {
  return new HttpError(401, message, { type: "authentication_error", code });
}

/** 403: the credentials are good but may not do this (a model outside a key's allowlist). */
export function forbidden(message: string, code: string, param?: string): HttpError {
  return new HttpError(403, message, { type: "permission_error", code, param });
}

/** 404: no such resource, model or route. */
export function notFound(message: string, code = "not_found"): HttpError {
  return new HttpError(404, message, { type: "invalid_request_error", code });
}
