import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { ApiKeyAuthenticator, RequestSignatures } from "../../auth/mod.ts";
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  embeddingRequestSchema,
} from "../../core/mod.ts";
import type { Idempotency } from "../../idempotency/mod.ts";
import type { ModelPipeline, PipelineContext } from "../../pipeline/mod.ts";
import { parseJsonBody, readBodyBytes } from "../body.ts";
import type { GatewayEnv } from "../context.ts";
import { methodNotAllowed } from "../errors.ts";
import { idempotent } from "../middleware/idempotency.ts";

/** What the external API is built from. */
export interface V1RoutesOptions {
  authenticator: ApiKeyAuthenticator;
  signatures: RequestSignatures;
  pipeline: ModelPipeline;
  /** `Idempotency-Key` on every model route. */
  idempotency: Idempotency;
  maxBodyBytes: number;
}

/** The OpenAI-compatible external API under `/v1`: chat, legacy completions, embeddings, models. */
export function v1Routes(options: V1RoutesOptions): Hono<GatewayEnv> {
  const { authenticator, signatures, pipeline, maxBodyBytes } = options;
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
