import type { MiddlewareHandler } from "hono";
import type { ApiKeyAuthenticator, RequestSignatures } from "../../auth/mod.ts";
import { readBodyBytes } from "../body.ts";
import type { GatewayEnv } from "../context.ts";

/** Options of {@linkcode authenticate}. */
export interface AuthenticateOptions {
  authenticator: ApiKeyAuthenticator;
  signatures: RequestSignatures;
  maxBodyBytes: number;
  /**
   * Which headers may carry the key: `Authorization: Bearer` only (OpenAI's API), or also
   * `x-api-key` (Anthropic's).
   */
  credentials: "bearer" | "bearer_or_x_api_key";
}

/**
 * Authenticates a request to the external API: its key, then (for keys that require one) its
 * signature over the body, which it reads once for the handler (`body` on the context).
 */
export function authenticate(options: AuthenticateOptions): MiddlewareHandler<GatewayEnv> {
  const { authenticator, signatures, maxBodyBytes } = options;
  return async function authenticateRequest(c, next) {
    const authorization = c.req.header("authorization");
    const principal = options.credentials === "bearer"
      ? await authenticator.authenticate(authorization)
      : await authenticator.authenticateEither({
        apiKey: c.req.header("x-api-key"),
        authorization,
      });
    const record = c.get("record");
    record.tenantId = principal.tenantId;
    record.apiKeyId = principal.apiKeyId;
    const body = await readBodyBytes(c.req.raw, maxBodyBytes);
    const url = new URL(c.req.url);
    await signatures.check(principal, {
      method: c.req.method,
      pathAndQuery: url.pathname + url.search,
      headers: c.req.raw.headers,
      body,
    });
    c.set("principal", principal);
    c.set("body", body);
    await next();
  };
}
