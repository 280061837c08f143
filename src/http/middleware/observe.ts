import type { MiddlewareHandler } from "hono";
import type { GatewayMetrics } from "../../observability/metrics.ts";
import { type GatewayLogger, withLogContext } from "../../observability/logging.ts";
import { traceFromHeaders } from "../../observability/trace.ts";
import type { RequestRecord } from "../../pipeline/mod.ts";
import type { GatewayEnv } from "../context.ts";

/** Options of {@linkcode observe}. */
export interface ObserveOptions {
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  /** Paths answered often and by machines (probes, scrapes), logged at DEBUG only. */
  quietPaths: Set<string>;
  /** Called once per request after its last byte, e.g. to write its audit record. */
  onCompleted?: (record: RequestRecord, outcome: { status: number; latencyMs: number }) => void;
}

/**
 * The outermost middleware: gives the request its trace id (answered as `X-Request-Id`), runs the
 * rest inside a log context carrying it, and when the last byte has gone out records the request's
 * metrics and its `request_completed` line.
 */
export function observe(options: ObserveOptions): MiddlewareHandler<GatewayEnv> {
  const { metrics, logger, quietPaths, onCompleted } = options;
  return async function observeRequest(c, next) {
    const started = performance.now();
    const trace = traceFromHeaders(c.req.raw.headers);
    const record: RequestRecord = {
      traceId: trace.traceId,
      clientTraceId: trace.clientTraceId,
      traceparent: trace.traceparent,
    };
    c.set("record", record);
    await withLogContext({ trace_id: record.traceId }, async () => {
      await next();
      c.res.headers.set("x-request-id", record.traceId);
      const path = c.res.status === 404 && c.req.routePath === "/*" ? "unmatched" : c.req.routePath;
      const finish = () => {
        const seconds = (performance.now() - started) / 1000;
        const status = c.res.status;
        metrics.observeRequest({ path, method: c.req.method, status }, seconds);
        if (record.upstreamSeconds !== undefined) {
          // The gateway's own share; it cannot be negative, whatever the clocks' rounding.
          metrics.overhead.observe({ path }, Math.max(0, seconds - record.upstreamSeconds));
        }
        const fields = {
          method: c.req.method,
          path,
          status_code: status,
          latency_ms: Math.round(seconds * 1000),
          tenant_id: record.tenantId,
          api_key_id: record.apiKeyId,
          model: record.model,
          provider: record.provider,
          deployment: record.deployment,
          tokens: record.usage
            ? { input: record.usage.prompt_tokens, output: record.usage.completion_tokens }
            : undefined,
          idempotent_replayed: record.idempotentReplay,
        };
        if (quietPaths.has(path)) logger.debug("request_completed", fields);
        else logger.info("request_completed", fields);
        onCompleted?.(record, { status, latencyMs: fields.latency_ms });
      };
      const body = record.streamDone ? c.res.body : null;
      if (record.streamDone && body) {
        const bodyEnded = Promise.withResolvers<void>();
        c.res = new Response(onEnd(body, bodyEnded.resolve), c.res);
        // Chained here, inside the log context, so the line still carries the trace id.
        void Promise.all([bodyEnded.promise, record.streamDone]).then(finish);
      } else {
        finish();
      }
    });
  };
}

/** Passes a stream through and calls `done` once when it ends, breaks or is canceled. */
function onEnd(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = () => {
    if (!ended) ended = true, done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          controller.close();
          end();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        controller.error(error);
        end();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      end();
    },
  }, { highWaterMark: 0 });
}
