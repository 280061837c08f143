import { Hono } from "hono";
import type { AuditWriter } from "../audit/mod.ts";
import type { ApiKeyAuthenticator, RequestSignatures } from "../auth/mod.ts";
import type { Idempotency } from "../idempotency/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { ModelPipeline, RequestRecord } from "../pipeline/mod.ts";
import type { ResponsesService } from "../responses/mod.ts";
import type { JobQueue } from "../queue/mod.ts";
import type { StatusService } from "../status/mod.ts";
import type { TenantService } from "../tenants/mod.ts";
import type { GatewayEnv } from "./context.ts";
import { errorHandler, notFoundHandler } from "./errors.ts";
import { observe } from "./middleware/observe.ts";
import { healthRoutes, type ReadinessCheck } from "./routes/health.ts";
import { internalRoutes } from "./routes/internal.ts";
import { v1Routes } from "./routes/v1.ts";

/** Everything the HTTP app is built from; built once in `src/cli/serve.ts` and injected. */
export interface AppOptions {
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  authenticator: ApiKeyAuthenticator;
  signatures: RequestSignatures;
  pipeline: ModelPipeline;
  responses: ResponsesService;
  /** `Idempotency-Key` on the model routes. */
  idempotency: Idempotency;
  tenants: TenantService;
  audit: AuditWriter;
  queue: JobQueue;
  /** The status page's data (`/internal/status`, shown at `/internal/ui`). */
  status: StatusService;
  adminToken: string | undefined;
  maxBodyBytes: number;
  readiness: Record<string, ReadinessCheck | undefined>;
  /** False in worker-only mode: then only `/health`, `/ready` and `/metrics` are served. */
  serveApi: boolean;
  isDraining: () => boolean;
}

const QUIET_PATHS = new Set(["/health", "/ready", "/metrics"]);

/** The gateway's HTTP application. */
export function createApp(options: AppOptions): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.use(
    "*",
    observe({
      metrics: options.metrics,
      logger: options.logger,
      quietPaths: QUIET_PATHS,
      onCompleted: (record, outcome) => auditRequest(options.audit, record, outcome),
    }),
  );
  app.route(
    "/",
    healthRoutes({
      metrics: options.metrics,
      checks: options.readiness,
      isDraining: options.isDraining,
    }),
  );
  if (options.serveApi) {
    app.route("/v1", v1Routes(options));
    app.route(
      "/internal",
      internalRoutes({
        adminToken: options.adminToken,
        tenants: options.tenants,
        queue: options.queue,
        status: options.status,
        maxBodyBytes: options.maxBodyBytes,
      }),
    );
  }
  app.notFound(notFoundHandler);
  app.onError(errorHandler(options.logger));
  return app;
}

/** One audit record per authenticated request: who, what model, status, tokens, cost, latency. */
function auditRequest(
  audit: AuditWriter,
  record: RequestRecord,
  outcome: { status: number; latencyMs: number },
): void {
  if (!record.apiKeyId) return;
  audit.record({
    actor: record.apiKeyId,
    action: "request",
    tenantId: record.tenantId ?? null,
    target: record.model ?? null,
    traceId: record.traceId,
    details: {
      status: outcome.status,
      model: record.model,
      provider: record.provider,
      input_tokens: record.usage?.prompt_tokens,
      output_tokens: record.usage?.completion_tokens,
      cost_micros: record.costMicros,
      latency_ms: outcome.latencyMs,
      idempotent_replayed: record.idempotentReplay,
    },
  });
}
