import { Hono } from "hono";
import type { ApiKeyAuthenticator, RequestSignatures } from "../auth/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { ChatPipeline } from "../pipeline/mod.ts";
import type { TenantService } from "../tenants/mod.ts";
import type { GatewayEnv } from "./context.ts";
import { errorHandler, notFoundHandler } from "./errors.ts";
import { observe } from "./middleware/observe.ts";
import { healthRoutes, type ReadinessCheck } from "./routes/health.ts";
import { internalRoutes } from "./routes/internal.ts";
import { v1Routes } from "./routes/v1.ts";

/** Everything the HTTP app is built from; built once in `main.ts` and injected. */
export interface AppOptions {
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  authenticator: ApiKeyAuthenticator;
  signatures: RequestSignatures;
  pipeline: ChatPipeline;
  tenants: TenantService;
  adminToken: string | undefined;
  maxBodyBytes: number;
  readiness: Record<string, ReadinessCheck | undefined>;
  isDraining: () => boolean;
}

const QUIET_PATHS = new Set(["/health", "/ready", "/metrics"]);

/** The gateway's HTTP application. */
export function createApp(options: AppOptions): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.use(
    "*",
    observe({ metrics: options.metrics, logger: options.logger, quietPaths: QUIET_PATHS }),
  );
  app.route(
    "/",
    healthRoutes({
      metrics: options.metrics,
      checks: options.readiness,
      isDraining: options.isDraining,
    }),
  );
  app.route("/v1", v1Routes(options));
  app.route(
    "/internal",
    internalRoutes({
      adminToken: options.adminToken,
      tenants: options.tenants,
      maxBodyBytes: options.maxBodyBytes,
    }),
  );
  app.notFound(notFoundHandler);
  app.onError(errorHandler(options.logger));
  return app;
}
