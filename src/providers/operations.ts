import type {
  ChatCompletion,
  ChatCompletionRequest,
  Completion,
  CompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
  Usage,
} from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import type { Provider, ProviderResult, UpstreamCall } from "./types.ts";

/**
 * One kind of upstream call bound to its request: what the attempt loop makes on whichever
 * deployment it picks, and how the answer's usage and text are read for limits and billing.
 */
export interface ProviderOperation<Body = ChatCompletion> {
  /** The external API path it serves, e.g. `/v1/embeddings`, for messages. */
  readonly endpoint: string;
  /** The model the client asked for. */
  readonly model: string;
  /** Whether `provider` can serve it. */
  supportedBy(provider: Provider): boolean;
  /** Makes one attempt on `provider`. */
  invoke(provider: Provider, call: UpstreamCall): Promise<ProviderResult<Body>>;
  /** The usage a whole answer reports, in chat's shape; undefined when it reports none. */
  usageOf(body: Body): Usage | undefined;
  /**
   * Characters of a whole answer's text, to estimate its output when no usage came; undefined
   * for an answer that has no text (embeddings).
   */
  answerChars(body: Body): number | undefined;
}

/** A chat completion, which every provider serves. */
export function chatOperation(request: ChatCompletionRequest): ProviderOperation<ChatCompletion> {
  return {
    endpoint: "/v1/chat/completions",
    model: request.model,
    supportedBy: () => true,
    invoke: (provider, call) => provider.chatCompletion(request, call),
    usageOf: (body) => validUsage(body.usage),
    answerChars: (body) =>
      (body.choices ?? []).reduce((chars, choice) => {
        const content = choice.message?.content;
        return chars + (typeof content === "string" ? content.length : 0);
      }, 0),
  };
}

/** A legacy completion, served by providers with `completions`. */
export function completionOperation(request: CompletionRequest): ProviderOperation<Completion> {
  const endpoint = "/v1/completions";
  return {
    endpoint,
    model: request.model,
    supportedBy: (provider) => provider.completions !== undefined,
    invoke: (provider, call) => {
      if (!provider.completions) return Promise.reject(unsupported(provider, endpoint));
      return provider.completions(request, call);
    },
    usageOf: (body) => validUsage(body.usage),
    answerChars: (body) =>
      (body.choices ?? []).reduce(
        (chars, choice) => chars + (typeof choice.text === "string" ? choice.text.length : 0),
        0,
      ),
  };
}

/** An embeddings call, served by providers with `embeddings`; its usage has no output. */
export function embeddingOperation(
  request: EmbeddingRequest,
): ProviderOperation<EmbeddingResponse> {
  const endpoint = "/v1/embeddings";
  return {
    endpoint,
    model: request.model,
    supportedBy: (provider) => provider.embeddings !== undefined,
    invoke: (provider, call) => {
      if (!provider.embeddings) return Promise.reject(unsupported(provider, endpoint));
      return provider.embeddings(request, call);
    },
    usageOf: (body) => {
      const promptTokens = body.usage?.prompt_tokens;
      if (!isTokenCount(promptTokens)) return undefined;
      return { prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens };
    },
    answerChars: () => undefined,
  };
}

/** The usage when its counts are usable, so that a malformed one is estimated instead. */
function validUsage(usage: Usage | null | undefined): Usage | undefined {
  if (!usage || !isTokenCount(usage.prompt_tokens) || !isTokenCount(usage.completion_tokens)) {
    return undefined;
  }
  return usage;
}

function isTokenCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** Routing leaves such providers out; this guards a caller that did not. */
function unsupported(provider: Provider, endpoint: string): UpstreamError {
  return new UpstreamError(
    "client_error",
    `The provider '${provider.name}' does not serve ${endpoint}`,
    { status: 400 },
  );
}
