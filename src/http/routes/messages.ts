import { type Context, Hono } from "hono";
import type { ApiKeyAuthenticator, RequestSignatures } from "../../auth/mod.ts";
import { countTokensRequestSchema, messagesRequestSchema } from "../../core/mod.ts";
import type { Idempotency } from "../../idempotency/mod.ts";
import { anthropicRateLimitHeaders } from "../../limits/mod.ts";
import type { MessagesInput, ModelPipeline } from "../../pipeline/mod.ts";
import { parseJsonBody } from "../body.ts";
import { type GatewayEnv, pipelineContext } from "../context.ts";
import { methodNotAllowed } from "../errors.ts";
import { authenticate } from "../middleware/authenticate.ts";
import { idempotent } from "../middleware/idempotency.ts";

/** What Anthropic's routes are built from: the same as the rest of the external API's. */
export interface MessagesRoutesOptions {
  authenticator: ApiKeyAuthenticator;
  signatures: RequestSignatures;
  pipeline: ModelPipeline;
  idempotency: Idempotency;
  maxBodyBytes: number;
}

/**
 * Anthropic's Messages API under `/v1/messages` (what Claude Code and Anthropic's SDKs call): an
 * adapter at the edge of the same model pipeline as chat, with Anthropic's error body, its
 * `x-api-key` header and its rate-limit headers.
 */
export function messagesRoutes(options: MessagesRoutesOptions): Hono<GatewayEnv> {
  const { pipeline } = options;
  const app = new Hono<GatewayEnv>();
  const authenticated = authenticate({ ...options, credentials: "bearer_or_x_api_key" });
  const keyed = idempotent(options.idempotency);

  // First, so that every refusal below (a wrong method included) is told in Anthropic's body.
  app.use("*", async function anthropicErrors(c, next) {
    c.set("errorFormat", "anthropic");
    await next();
  });

  app.post("/", authenticated, keyed, async (c) => {
    const request = parseJsonBody(c.get("body"), messagesRequestSchema);
    const input = { request, headers: anthropicHeaders(c) };
    const response = await pipeline.messages(input, pipelineContext(c));
    const limits = anthropicRateLimitHeaders(Object.fromEntries(response.headers), new Date());
    for (const [name, value] of Object.entries(limits)) response.headers.set(name, value);
    return response;
  });
  app.all("/", methodNotAllowed(["POST"]));

  app.post("/count_tokens", authenticated, async (c) => {
    const request = parseJsonBody(c.get("body"), countTokensRequestSchema);
    const counted = await pipeline.countTokens(
      { request, headers: anthropicHeaders(c) },
      pipelineContext(c),
    );
    return c.json(counted);
  });
  app.all("/count_tokens", methodNotAllowed(["POST"]));

  return app;
}

/** The Anthropic headers a client sent, to pass on to Anthropic upstreams. */
function anthropicHeaders(c: Context<GatewayEnv>): MessagesInput["headers"] {
  const headers: MessagesInput["headers"] = {};
  const version = c.req.header("anthropic-version");
  const beta = c.req.header("anthropic-beta");
  if (version) headers.anthropicVersion = version;
  if (beta) headers.anthropicBeta = beta;
  return headers;
}
