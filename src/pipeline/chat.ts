import type { Principal } from "../auth/mod.ts";
import type { Metering } from "../billing/mod.ts";
import {
  type ChatCompletion,
  type ChatCompletionRequest,
  HttpError,
  type ModelInfo,
} from "../core/mod.ts";
import type { GatewayMetrics, UpstreamErrorClass } from "../observability/metrics.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { UpstreamFailureRecorder } from "../observability/upstream_failures.ts";
import { type ProviderResult, UpstreamError } from "../providers/mod.ts";
import type { ModelRouter, Route } from "../routing/mod.ts";
import type { Admission, Admitted } from "./admission.ts";
import { Deadlines } from "./deadlines.ts";
import type { RequestRecord } from "./record.ts";

/** What the chat pipeline is built from. */
export interface ChatPipelineOptions {
  router: ModelRouter;
  metering: Metering;
  admission: Admission;
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  /** Total time allowed for one upstream call, stream included. */
  upstreamTimeoutMs: number;
  /** Keeps the latest upstream failures for the status page. */
  failures?: UpstreamFailureRecorder;
}

const MODEL_LIST_TIMEOUT_MS = 30_000;

const JSON_HEADERS = { "content-type": "application/json" };

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/**
 * The chat completion pipeline after authentication: route the model, call the upstream, and
 * return its answer in OpenAI's format, streams passed through as they arrive.
 */
export class ChatPipeline {
  readonly #options: ChatPipelineOptions;
  readonly #deadlines = new Deadlines();

  constructor(options: ChatPipelineOptions) {
    this.#options = options;
  }

  /** Runs one chat completion; `clientSignal` aborts when the client goes away. */
  async complete(
    request: ChatCompletionRequest,
    context: { record: RequestRecord; principal: Principal; clientSignal: AbortSignal },
  ): Promise<Response> {
    const { record, principal, clientSignal } = context;
    record.model = request.model;
    const route = this.#options.router.resolve(request.model);
    record.provider = route.provider.name;
    // The seed's order: the quota is reserved, then the rate limits are checked and recorded.
    const meter = await this.#options.metering.open(principal, request, record.traceId);
    let admitted: Admitted;
    try {
      admitted = await this.#options.admission.admit(principal, request);
    } catch (error) {
      meter.abandon();
      throw error;
    }
    const provider = route.provider.name;
    const scope = this.#deadlines.open(this.#options.upstreamTimeoutMs, clientSignal);
    const signal = scope.signal;
    const started = performance.now();
    let result: ProviderResult;
    try {
      result = await route.provider.chatCompletion(request, {
        signal,
        traceId: record.traceId,
        traceparent: record.traceparent,
        upstreamModel: route.upstreamModel,
      });
    } catch (error) {
      scope.done();
      admitted.settle(undefined);
      meter.abandon();
      const failure = error instanceof UpstreamError
        ? error
        : new UpstreamError("invalid_response", "The upstream call failed", { cause: error });
      this.#finishUpstream(route, request.model, started, failure.errorClass, failure);
      throw toHttpError(failure);
    }
    if (result.kind === "json") {
      scope.done();
      this.#finishUpstream(route, request.model, started);
      record.usage = result.body.usage;
      admitted.settle(result.body.usage);
      // The answer goes out only once its charge is durable: a crash now cannot lose it.
      record.costMicros = await meter.finish({
        provider,
        usage: result.body.usage,
        producedChars: answerChars(result.body),
      });
      const headers = { ...JSON_HEADERS, ...admitted.headers };
      return new Response(result.text ?? JSON.stringify(result.body), { headers });
    }
    record.streamDone = result.outcome.then(async (outcome) => {
      scope.done();
      admitted.settle(outcome.usage);
      record.costMicros = await meter.finish({
        provider,
        usage: outcome.usage,
        producedChars: outcome.producedChars,
      });
      record.usage = outcome.usage;
      this.#finishUpstream(route, request.model, started, outcome.error);
    });
    return new Response(result.body, { headers: { ...SSE_HEADERS, ...admitted.headers } });
  }

  /** The models for `GET /v1/models`; an upstream failure becomes the client-facing error. */
  async listModels(clientSignal: AbortSignal): Promise<ModelInfo[]> {
    const scope = this.#deadlines.open(MODEL_LIST_TIMEOUT_MS, clientSignal);
    try {
      return await this.#options.router.listModels(scope.signal);
    } catch (error) {
      if (error instanceof UpstreamError) throw toHttpError(error);
      throw error;
    } finally {
      scope.done();
    }
  }

  #finishUpstream(
    route: Route,
    model: string,
    started: number,
    errorClass?: UpstreamErrorClass,
    error?: UpstreamError,
  ): void {
    const provider = route.provider.name;
    const seconds = (performance.now() - started) / 1000;
    this.#options.metrics.observeUpstream({ provider, model, error: errorClass }, seconds);
    if (errorClass === undefined) return;
    const fields = {
      provider,
      model,
      error: errorClass,
      upstream_status: error?.status,
      latency_ms: Math.round(seconds * 1000),
      detail: error?.message,
    };
    // A client that went away is not an upstream failure worth paging anyone about.
    if (errorClass === "canceled") this.#options.logger.info("upstream_canceled", fields);
    else {
      this.#options.logger.error("upstream_error", fields);
      this.#options.failures?.record({ ...fields, error_class: errorClass });
    }
  }
}

/** The client-facing error for a failed upstream call. */
export function toHttpError(error: UpstreamError): HttpError {
  const cause = error;
  switch (error.errorClass) {
    case "timeout":
      return new HttpError(504, "The upstream did not answer in time", {
        type: "timeout_error",
        code: "upstream_timeout",
        cause,
      });
    case "rate_limited": {
      const headers: Record<string, string> = {};
      if (error.retryAfterSeconds !== undefined) {
        headers["retry-after"] = String(Math.ceil(error.retryAfterSeconds));
      }
      return new HttpError(429, "The upstream is rate limiting requests; retry later", {
        type: "rate_limit_error",
        code: "upstream_rate_limited",
        headers,
        cause,
      });
    }
    case "client_error":
      return new HttpError(
        error.status && error.status >= 400 && error.status < 500 ? error.status : 400,
        `The upstream rejected the request: ${error.message}`,
        { type: "invalid_request_error", code: "upstream_rejected", cause },
      );
    case "canceled":
      return new HttpError(499, "The client closed the request", {
        type: "invalid_request_error",
        code: "client_closed_request",
        cause,
      });
    default:
      return new HttpError(502, `Upstream failure (${error.errorClass})`, {
        type: "upstream_error",
        code: `upstream_${error.errorClass}`,
        cause,
      });
  }
}

/** Characters of a whole answer, to estimate its usage when the upstream reported none. */
function answerChars(body: ChatCompletion): number {
  let chars = 0;
  for (const choice of body.choices ?? []) {
    const content = choice.message?.content;
    if (typeof content === "string") chars += content.length;
  }
  return chars;
}
