import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import {
  type AnthropicErrorBody,
  type AnthropicErrorType,
  HttpError,
  notFound,
} from "../core/mod.ts";
import { anthropicRateLimitHeaders } from "../limits/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";

/**
 * How a route tells its errors: in OpenAI's body (the default) or in Anthropic's, on the routes
 * of Anthropic's API. A route sets it on the context before anything may fail.
 */
export type ErrorFormat = "openai" | "anthropic";

/**
 * Turns every error into the route's error body (see {@linkcode ErrorFormat}); unexpected ones
 * become a 500 without details.
 */
export function errorHandler(logger: GatewayLogger): ErrorHandler {
  return function onError(error, c) {
    if (error instanceof HttpError) return errorResponse(c, error);
    logger.error("unhandled_error", { error });
    return errorResponse(
      c,
      new HttpError(500, "The gateway failed to handle the request", {
        type: "api_error",
        code: "internal_error",
      }),
    );
  };
}

/** 404 in OpenAI's shape for paths the gateway does not serve. */
export const notFoundHandler: NotFoundHandler = function onNotFound(c) {
  return errorResponse(
    c,
    notFound(`Unknown route: ${c.req.method} ${c.req.path}`, "unknown_route"),
  );
};

/** Answers 405 naming the methods a known path accepts. */
export function methodNotAllowed(allowed: string[]) {
  return function onWrongMethod(c: Context): Response {
    const error = new HttpError(405, `Method ${c.req.method} is not allowed here`, {
      type: "invalid_request_error",
      code: "method_not_allowed",
      headers: { allow: allowed.join(", ") },
    });
    return errorResponse(c, error);
  };
}

/** The response for an {@linkcode HttpError}, in the route's error format. */
export function errorResponse(c: Context, error: HttpError): Response {
  if (c.get("errorFormat") !== "anthropic") {
    return c.json(error.toBody(), error.status as 400, error.headers);
  }
  const headers = { ...error.headers, ...anthropicRateLimitHeaders(error.headers, new Date()) };
  return c.json(anthropicErrorBody(error), error.status as 400, headers);
}

/**
 * Anthropic's error body for an {@linkcode HttpError}: its type by the status, as Anthropic's
 * (an exhausted quota is Anthropic's `billing_error`, whatever its status).
 */
export function anthropicErrorBody(error: HttpError): AnthropicErrorBody {
  const type = error.type === "insufficient_quota"
    ? "billing_error"
    : anthropicErrorType(error.status);
  return { type: "error", error: { type, message: error.message } };
}

function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}
