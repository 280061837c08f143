import { Hono } from "hono";
import type { GatewayEnv } from "../context.ts";
import type { GatewayMetrics } from "../../observability/metrics.ts";
import { methodNotAllowed } from "../errors.ts";

/** A dependency check for `/ready`: resolves when the dependency answers. */
export type ReadinessCheck = (signal: AbortSignal) => Promise<void>;

/** What the operational endpoints are built from. */
export interface HealthRoutesOptions {
  metrics: GatewayMetrics;
  /** Checks by name, e.g. `database`, `redis`; names absent here are reported as not configured. */
  checks: Record<string, ReadinessCheck | undefined>;
  /** True once shutdown has begun: `/ready` then answers 503 at once. */
  isDraining: () => boolean;
  checkTimeoutMs?: number;
}

/** `GET /health`, `GET /ready` and `GET /metrics`. */
export function healthRoutes(options: HealthRoutesOptions): Hono<GatewayEnv> {
  const { metrics, checks, isDraining } = options;
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  const app = new Hono<GatewayEnv>();

  // Liveness touches no dependency: a database outage must not get healthy processes restarted.
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.all("/health", methodNotAllowed(["GET"]));

  app.get("/ready", async (c) => {
    if (isDraining()) {
      return c.json({ status: "shutting_down", checks: {} }, 503);
    }
    const entries = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        if (!check) return [name, "not_configured"] as const;
        try {
          await withDeadline(check, timeoutMs);
          return [name, "ok"] as const;
        } catch {
          return [name, "failing"] as const;
        }
      }),
    );
    const results = Object.fromEntries(entries);
    const ready = entries.every(([, state]) => state !== "failing");
    return c.json({ status: ready ? "ready" : "not_ready", checks: results }, ready ? 200 : 503);
  });
  app.all("/ready", methodNotAllowed(["GET"]));

  app.get("/metrics", async (c) => {
    const { body, contentType } = await metrics.render();
    return c.body(body, 200, { "content-type": contentType });
  });
  app.all("/metrics", methodNotAllowed(["GET"]));

  return app;
}

/** Runs a check, failing it when it takes longer than `ms` even if it ignores its signal. */
async function withDeadline(check: ReadinessCheck, ms: number): Promise<void> {
  const signal = AbortSignal.timeout(ms);
  await Promise.race([
    check(signal),
    new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    ),
  ]);
}
