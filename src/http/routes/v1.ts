import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { ApiKeyAuthenticator, RequestSignatures } from "../../auth/mod.ts";
import {
  badRequest,
  chatCompletionRequestSchema,
  completionRequestSchema,
  embeddingRequestSchema,
} from "../../core/mod.ts";
import type { Idempotency } from "../../idempotency/mod.ts";
import type { ModelPipeline, PipelineContext } from "../../pipeline/mod.ts";
import { responsesRequestSchema, type ResponsesService } from "../../responses/mod.ts";
import { parseJson, parseJsonBody, readBodyBytes, validateBody } from "../body.ts";
import type { GatewayEnv } from "../context.ts";
import { methodNotAllowed } from "../errors.ts";
import { idempotent } from "../middleware/idempotency.ts";
import { wholeNumberParam } from "../params.ts";

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
 * The OpenAI-compatible external API under `/v1`: chat, legacy completions, embeddings, the
 * Responses API, models.
 */
export function v1Routes(options: V1RoutesOptions): Hono<GatewayEnv> {
  const { authenticator, signatures, pipeline, responses, maxBodyBytes } = options;
  // Every route that runs the model pipeline takes both, in this order: the key is per API key
  // and its fingerprint covers the body that authentication reads.
  const keyed = idempotent(options.idempotency);
  const app = new Hono<GatewayEnv>();

  // Per route rather than for "*", so a wrong method or path is told as such before any key check.
  const authenticate: MiddlewareHandler<GatewayEnv> = async function authenticate(c, next) {
    const principal = await authenticator.authenticate(c.req.header("authorization"));
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

  app.post("/chat/completions", authenticate, keyed, async (c) => {
    const request = parseJsonBody(c.get("body"), chatCompletionRequestSchema);
    return await pipeline.chat(request, pipelineContext(c));
  });
  app.all("/chat/completions", methodNotAllowed(["POST"]));

  app.post("/completions", authenticate, keyed, async (c) => {
    const request = parseJsonBody(c.get("body"), completionRequestSchema);
    return await pipeline.completions(request, pipelineContext(c));
  });
  app.all("/completions", methodNotAllowed(["POST"]));

  app.post("/embeddings", authenticate, keyed, async (c) => {
    const request = parseJsonBody(c.get("body"), embeddingRequestSchema);
    return await pipeline.embeddings(request, pipelineContext(c));
  });
  app.all("/embeddings", methodNotAllowed(["POST"]));

  app.post("/responses", authenticate, keyed, async (c) => {
    const body = parseJson(c.get("body"));
    const request = validateBody(body, responsesRequestSchema);
    // The schema took an object, so `body` is one: a native deployment gets it as it came.
    return await responses.create(request, body as Record<string, unknown>, pipelineContext(c));
  });
  app.all("/responses", methodNotAllowed(["POST"]));

  app.get("/responses/:id", authenticate, async (c) => {
    return c.json(await responses.retrieve(c.get("principal").tenantId, c.req.param("id")));
  });
  app.delete("/responses/:id", authenticate, async (c) => {
    return c.json(await responses.delete(c.get("principal").tenantId, c.req.param("id")));
  });
  app.all("/responses/:id", methodNotAllowed(["GET", "DELETE"]));

  app.get("/responses/:id/input_items", authenticate, async (c) => {
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

  app.get("/models", authenticate, async (c) => {
    const models = await pipeline.listModels(c.get("principal"), c.req.raw.signal);
    return c.json({ object: "list", data: models });
  });
  app.all("/models", methodNotAllowed(["GET"]));

  return app;
}

/** The authenticated request's side of the pipeline. */
function pipelineContext(c: Context<GatewayEnv>): PipelineContext {
  return { record: c.get("record"), principal: c.get("principal"), clientSignal: c.req.raw.signal };
}
