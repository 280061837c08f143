import type { MiddlewareHandler } from "hono";
import { constantTimeEqual } from "../../auth/mod.ts";
import { notFound, unauthorized } from "../../core/mod.ts";
import type { GatewayEnv } from "../context.ts";

/**
 * Lets through only requests that carry `Authorization: Bearer <adminToken>` (compared in constant
 * time); with no admin token configured the internal API does not exist (404).
 */
export function requireAdmin(adminToken: string | undefined): MiddlewareHandler<GatewayEnv> {
  return async function checkAdminToken(c, next) {
    if (!adminToken) {
      throw notFound("The internal API is off: set ADMIN_TOKEN to turn it on", "internal_api_off");
    }
    const header = c.req.header("authorization") ?? "";
    const token = header.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : "";
    if (!token || !(await constantTimeEqual(token, adminToken))) {
      throw unauthorized("Missing or wrong admin token", "invalid_admin_token");
    }
    await next();
    // Whatever the internal API answers is about tenants and money: no cache may keep it.
    c.header("cache-control", "no-store");
  };
}
