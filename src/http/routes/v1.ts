import { Hono } from "hono";
import type { ApiKeyAuthenticator, RequestSignatures } from "../../auth/mod.ts";
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  embeddingRequestSchema,
} from "../../core/mod.ts";
import type { Idempotency } from "../../idempotency/mod.ts";
import type { ModelPipeline } from "../../pipeline/mod.ts";
import { parseJsonBody } from "../body.ts";
import { type GatewayEnv, pipelineContext } from "../context.ts";
import { methodNotAllowed } from "../errors.ts";
import { authenticate } from "../middleware/authenticate.ts";
import { idempotent } from "../middleware/idempotency.ts";
import { messagesRoutes } from "./messages.ts";

/** What the external API is built from. */
export interface V1RoutesOptions {
  authenticator: ApiKeyAuthenticator;
  signatures: RequestSignatures;
  pipeline: ModelPipeline;
  /** `Idempotency-Key` on every model route. */
  idempotency: Idempotency;
  maxBodyBytes: number;
}

/**
 * The external API under `/v1`: OpenAI's chat, legacy completions, embeddings and models, and
 * Anthropic's Messages.
 */
export function v1Routes(options: V1RoutesOptions): Hono<GatewayEnv> {
  const { authenticator, signatures, pipeline, maxBodyBytes } = options;
  // Every route that runs the model pipeline takes both, in this order: the key is per API key
  // and its fingerprint covers the body that authentication reads.
  const keyed = idempotent(options.idempotency);
  const app = new Hono<GatewayEnv>();

  // Per route rather than for "*", so a wrong method or path is told as such before any key check.
  const authenticated = authenticate({
    authenticator,
    signatures,
    maxBodyBytes,
    credentials: "bearer",
  });

  app.post("/chat/completions", authenticated, keyed, async (c) => {
    const request = parseJsonBody(c.get("body"), chatCompletionRequestSchema);
    return await pipeline.chat(request, pipelineContext(c));
  });
  app.all("/chat/completions", methodNotAllowed(["POST"]));

  app.post("/completions", authenticated, keyed, async (c) => {
    const request = parseJsonBody(c.get("body"), completionRequestSchema);
    return await pipeline.completions(request, pipelineContext(c));
  });
  app.all("/completions", methodNotAllowed(["POST"]));

  app.post("/embeddings", authenticated, keyed, async (c) => {
    const request = parseJsonBody(c.get("body"), embeddingRequestSchema);
    return await pipeline.embeddings(request, pipelineContext(c));
  });
  app.all("/embeddings", methodNotAllowed(["POST"]));

  app.get("/models", authenticated, async (c) => {
    const models = await pipeline.listModels(c.get("principal"), c.req.raw.signal);
    return c.json({ object: "list", data: models });
  });
  app.all("/models", methodNotAllowed(["GET"]));

  app.route("/messages", messagesRoutes(options));

  return app;
}
