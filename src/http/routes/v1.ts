import { Hono } from "hono";
import type { ApiKeyAuthenticator, RequestSignatures } from "../../auth/mod.ts";
import {
  badRequest,
  chatCompletionRequestSchema,
  completionRequestSchema,
  embeddingRequestSchema,
} from "../../core/mod.ts";
import type { Idempotency } from "../../idempotency/mod.ts";
import type { ModelPipeline } from "../../pipeline/mod.ts";
import { responsesRequestSchema, type ResponsesService } from "../../responses/mod.ts";
import { parseJson, parseJsonBody, validateBody } from "../body.ts";
import { type GatewayEnv, pipelineContext } from "../context.ts";
import { methodNotAllowed } from "../errors.ts";
import { authenticate } from "../middleware/authenticate.ts";
import { idempotent } from "../middleware/idempotency.ts";
import { wholeNumberParam } from "../params.ts";
import { messagesRoutes } from "./messages.ts";

/** What the external API is built from. */
export interface V1RoutesOptions {
  authenticator: ApiKeyAuthenticator;
  signatures: RequestSignatures;
  pipeline: ModelPipeline;
  /** The Responses API, over the same pipeline. */
  responses: ResponsesService;
  /** `Idempotency-Key` on every model route. */
  idempotency: Idempotency;
  maxBodyBytes: number;
}

/**
 * The external API under `/v1`: OpenAI's chat, legacy completions, embeddings, Responses API and
 * models, and Anthropic's Messages.
 */
export function v1Routes(options: V1RoutesOptions): Hono<GatewayEnv> {
  const { authenticator, signatures, pipeline, responses, maxBodyBytes } = options;
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

  app.post("/responses", authenticated, keyed, async (c) => {
    const body = parseJson(c.get("body"));
    const request = validateBody(body, responsesRequestSchema);
    // The schema took an object, so `body` is one: a native deployment gets it as it came.
    return await responses.create(request, body as Record<string, unknown>, pipelineContext(c));
  });
  app.all("/responses", methodNotAllowed(["POST"]));

  app.get("/responses/:id", authenticated, async (c) => {
    return c.json(await responses.retrieve(c.get("principal").tenantId, c.req.param("id")));
  });
  app.delete("/responses/:id", authenticated, async (c) => {
    return c.json(await responses.delete(c.get("principal").tenantId, c.req.param("id")));
  });
  app.all("/responses/:id", methodNotAllowed(["GET", "DELETE"]));

  app.get("/responses/:id/input_items", authenticated, async (c) => {
    const order = c.req.query("order") ?? "desc";
    if (order !== "asc" && order !== "desc") {
      throw badRequest("'order' must be 'asc' or 'desc'", "invalid_request", "order");
    }
    const page = await responses.inputItems(c.get("principal").tenantId, c.req.param("id"), {
      limit: wholeNumberParam(c.req.query("limit"), {
        name: "limit",
        min: 1,
        max: 100,
        fallback: 20,
      }),
      order,
      after: c.req.query("after") || undefined,
    });
    return c.json(page);
  });
  app.all("/responses/:id/input_items", methodNotAllowed(["GET"]));

  app.get("/models", authenticated, async (c) => {
    const models = await pipeline.listModels(c.get("principal"), c.req.raw.signal);
    return c.json({ object: "list", data: models });
  });
  app.all("/models", methodNotAllowed(["GET"]));

  app.route("/messages", messagesRoutes(options));

  return app;
}
