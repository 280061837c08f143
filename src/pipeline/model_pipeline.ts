import type { Principal } from "../auth/mod.ts";
import type { Metering } from "../billing/mod.ts";
import {
  type ChatCompletionRequest,
  chatEstimate,
  completionEstimate,
  type CompletionRequest,
  type CountTokensAnswer,
  type CountTokensRequest,
  embeddingEstimate,
  type EmbeddingRequest,
  forbidden,
  HttpError,
  type ModelInfo,
  type RequestEstimate,
} from "../core/mod.ts";
import {
  countTokensOperation,
  estimateMessagesTokens,
  messagesEstimate,
  messagesOperation,
} from "../messages/mod.ts";
import {
  chatOperation,
  completionOperation,
  embeddingOperation,
  type MessagesInput,
  type ProviderOperation,
  UpstreamError,
} from "../providers/mod.ts";
import {
  Deadlines,
  type ModelRouter,
  type UpstreamAnswer,
  type UpstreamCaller,
} from "../routing/mod.ts";
import type { Admission, Admitted } from "./admission.ts";
import type { RequestRecord } from "./record.ts";

/** What the model pipeline is built from. */
export interface ModelPipelineOptions {
  router: ModelRouter;
  /** Makes the upstream attempts: timeouts, retries, fallbacks, circuits, their metrics. */
  upstream: UpstreamCaller;
  metering: Metering;
  admission: Admission;
  /** The completion length assumed before the call when a request sets no `max_tokens`. */
  defaultMaxTokens: number;
}

/** The request's side of the pipeline: its record, who sent it, and whether they are still there. */
export interface PipelineContext {
  record: RequestRecord;
  principal: Principal;
  /** Aborts when the client goes away. */
  clientSignal: AbortSignal;
}

const MODEL_LIST_TIMEOUT_MS = 30_000;

const JSON_HEADERS = { "content-type": "application/json" };

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/**
 * The pipeline of every request to a model, after authentication, the same for chat, legacy
 * completions, embeddings and Anthropic's Messages: check the model against the key's and tenant's
 * allowlists, route the model to the deployments that serve the operation, reserve the quota, check
 * the rate limits, call the upstream, settle the limits and charge the usage, and return the answer
 * in the operation's format (OpenAI's, or Anthropic's for Messages), streams passed through as they
 * arrive.
 */
export class ModelPipeline {
  readonly #options: ModelPipelineOptions;
  readonly #deadlines = new Deadlines();

  constructor(options: ModelPipelineOptions) {
    this.#options = options;
  }

  /** Runs one chat completion (`POST /v1/chat/completions`). */
  chat(request: ChatCompletionRequest, context: PipelineContext): Promise<Response> {
    const estimate = chatEstimate(request, this.#options.defaultMaxTokens);
    return this.#serve(chatOperation(request), estimate, context);
  }

  /** Runs one legacy completion (`POST /v1/completions`). */
  completions(request: CompletionRequest, context: PipelineContext): Promise<Response> {
    const estimate = completionEstimate(request, this.#options.defaultMaxTokens);
    return this.#serve(completionOperation(request), estimate, context);
  }

  /** Runs one embeddings request (`POST /v1/embeddings`). */
  embeddings(request: EmbeddingRequest, context: PipelineContext): Promise<Response> {
    return this.#serve(embeddingOperation(request), embeddingEstimate(request), context);
  }

  /**
   * Runs one Anthropic Messages call (`POST /v1/messages`): natively on deployments whose
   * provider speaks it, translated through chat on the others, answered in Anthropic's format.
   */
  messages(input: MessagesInput, context: PipelineContext): Promise<Response> {
    return this.#serve(messagesOperation(input), messagesEstimate(input.request), context);
  }

  /**
   * Counts a Messages request's tokens (`POST /v1/messages/count_tokens`): upstream when the
   * model has a deployment that counts (Anthropic's), else by the gateway's own estimate. Free:
   * it holds no quota and is not billed.
   */
  async countTokens(
    input: MessagesInput<CountTokensRequest>,
    context: PipelineContext,
  ): Promise<CountTokensAnswer> {
    const { record, principal, clientSignal } = context;
    const operation = countTokensOperation(input);
    record.model = operation.model;
    refuseUnlessAllowed(principal, operation.model);
    const { router, upstream } = this.#options;
    const route = router.resolve(operation.model);
    if (!route.deployments.some((deployment) => operation.supportedBy(deployment.provider))) {
      return { input_tokens: estimateMessagesTokens(input.request) };
    }
    const counting = router.resolve(operation.model, operation);
    try {
      const { result } = await upstream.call(counting, operation, {
        traceId: record.traceId,
        traceparent: record.traceparent,
        clientSignal,
        trail: record,
      });
      if (result.kind === "json") return result.body;
      await result.body.cancel();
      throw new UpstreamError("invalid_response", "The upstream streamed a token count");
    } catch (error) {
      if (error instanceof UpstreamError) throw toHttpError(error);
      throw error;
    }
  }

  /**
   * Runs `operation`, a request of another API that asks what the chat request `chat` asks (the
   * Responses API): estimated, limited and billed as that chat request would be.
   */
  chatEquivalent<Body>(
    operation: ProviderOperation<Body>,
    chat: ChatCompletionRequest,
    context: PipelineContext,
  ): Promise<Response> {
    return this.#serve(operation, chatEstimate(chat, this.#options.defaultMaxTokens), context);
  }

  async #serve<Body>(
    operation: ProviderOperation<Body>,
    estimate: RequestEstimate,
    context: PipelineContext,
  ): Promise<Response> {
    const { record, principal, clientSignal } = context;
    record.model = operation.model;
    // First of all: a model the key may not use reaches no upstream and holds no money or limit,
    // and whether it exists is not told.
    refuseUnlessAllowed(principal, operation.model);
    const route = this.#options.router.resolve(operation.model, operation);
    const refusal = this.#options.upstream.refusal(route);
    if (refusal) throw toHttpError(refusal);
    // The seed's order: the quota is reserved, then the rate limits are checked and recorded.
    // Funds held in the limiter's Redis do both in one script (a refused quota records no limit,
    // a refused limit holds no money); otherwise they are two steps.
    const { metering, admission } = this.#options;
    const meter = await metering.open(principal, estimate, {
      traceId: record.traceId,
      clientTraceId: record.clientTraceId,
    }, admission.step(principal, estimate));
    let admitted: Admitted;
    try {
      admitted = await admission.admit(principal, estimate, meter.alongside);
    } catch (error) {
      meter.abandon();
      throw error;
    }
    let answer: UpstreamAnswer<Body>;
    try {
      answer = await this.#options.upstream.call(route, operation, {
        traceId: record.traceId,
        traceparent: record.traceparent,
        clientSignal,
        trail: record,
      });
    } catch (error) {
      admitted.settle(undefined);
      meter.abandon();
      if (error instanceof UpstreamError) throw toHttpError(error);
      throw error;
    }
    const { result, provider } = answer;
    if (result.kind === "json") {
      const usage = operation.usageOf(result.body);
      record.usage = usage;
      admitted.settle(usage);
      const chars = operation.answerChars(result.body);
      // The answer goes out only once its charge is durable: a crash now cannot lose it.
      record.costMicros = await meter.finish({
        provider,
        usage,
        producedChars: chars ?? 0,
        inputOnly: chars === undefined,
      });
      const headers = { ...JSON_HEADERS, ...admitted.headers };
      return new Response(result.text ?? JSON.stringify(result.body), { headers });
    }
    record.streamDone = result.outcome.then(async (outcome) => {
      record.streamError = outcome.error;
      admitted.settle(outcome.usage);
      record.costMicros = await meter.finish({
        provider,
        usage: outcome.usage,
        producedChars: outcome.producedChars,
      });
      record.usage = outcome.usage;
    });
    return new Response(result.body, { headers: { ...SSE_HEADERS, ...admitted.headers } });
  }

  /**
   * The models for `GET /v1/models` that the principal may use; an upstream failure becomes the
   * client-facing error.
   */
  async listModels(principal: Principal, clientSignal: AbortSignal): Promise<ModelInfo[]> {
    const scope = this.#deadlines.open(MODEL_LIST_TIMEOUT_MS, clientSignal);
    try {
      const models = await this.#options.router.listModels(scope.signal);
      const { tenant, key } = principal.models;
      return models.filter((model) => tenant.allows(model.id) && key.allows(model.id));
    } catch (error) {
      if (error instanceof UpstreamError) throw toHttpError(error);
      throw error;
    } finally {
      scope.done();
    }
  }
}

/** Throws 403 `model_not_allowed` unless both the tenant's and the key's allowlists pass `model`. */
function refuseUnlessAllowed(principal: Principal, model: string): void {
  const { tenant, key } = principal.models;
  if (tenant.allows(model) && key.allows(model)) return;
  const whose = tenant.allows(model) ? "This API key" : "This organization";
  throw forbidden(
    `${whose} is not allowed to use the model '${model}'`,
    "model_not_allowed",
    "model",
  );
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
        {
          type: "invalid_request_error",
          code: error.code ?? "upstream_rejected",
          param: error.param,
          cause,
        },
      );
    case "circuit_open":
      return new HttpError(503, error.message, {
        type: "upstream_error",
        code: "circuit_open",
        cause,
      });
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
