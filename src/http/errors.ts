import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HttpError, notFound } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";

/** Turns every error into OpenAI's error body; unexpected ones become a 500 without details. */
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

/** The response for an {@linkcode HttpError}. */
export function errorResponse(c: Context, error: HttpError): Response {
  return c.json(error.toBody(), error.status as 400, error.headers);
}
