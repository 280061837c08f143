import { assertEquals } from "../../tests/assert.ts";
import { badRequest, HttpError, unauthorized } from "../core/mod.ts";
import { anthropicErrorBody } from "./errors.ts";

Deno.test("every refusal has Anthropic's error type for its status, an exhausted quota billing's", () => {
  const cases: Array<[HttpError, string]> = [
    [badRequest("bad"), "invalid_request_error"],
    [unauthorized("who"), "authentication_error"],
    [new HttpError(403, "no", { type: "permission_error" }), "permission_error"],
    [new HttpError(404, "none", { type: "not_found_error" }), "not_found_error"],
    [new HttpError(409, "again", { type: "invalid_request_error" }), "invalid_request_error"],
    [new HttpError(413, "big", { type: "invalid_request_error" }), "request_too_large"],
    [new HttpError(429, "slow", { type: "rate_limit_error" }), "rate_limit_error"],
    [new HttpError(429, "poor", { type: "insufficient_quota" }), "billing_error"],
    [new HttpError(500, "bug", { type: "api_error" }), "api_error"],
    [new HttpError(502, "upstream", { type: "upstream_error" }), "api_error"],
    [new HttpError(503, "open", { type: "upstream_error" }), "overloaded_error"],
    [new HttpError(504, "late", { type: "timeout_error" }), "timeout_error"],
  ];
  for (const [error, type] of cases) {
    assertEquals(anthropicErrorBody(error), {
      type: "error",
      error: { type, message: error.message },
    }, `${error.status} ${error.type}`);
  }
});
