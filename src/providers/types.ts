import type {
  ChatCompletion,
  ChatCompletionRequest,
  Completion,
  CompletionRequest,
  CountTokensAnswer,
  CountTokensRequest,
  EmbeddingRequest,
  EmbeddingResponse,
  MessagesAnswer,
  MessagesRequest,
  ModelInfo,
  Usage,
} from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";

/** What a provider needs to know about the call besides the request itself. */
export interface UpstreamCall {
  /** Aborts when the client goes away or the deadline passes. */
  signal: AbortSignal;
  traceId: string;
  /** W3C trace context to pass on, when the client sent one. */
  traceparent?: string;
  /** The upstream's name for the model. */
  upstreamModel: string;
}

/** How a stream ended, known once its last byte has passed through. */
export interface StreamOutcome {
  usage?: Usage;
  finishReason?: string;
  /** Set when the stream broke off: the class of what went wrong. */
  error?: UpstreamErrorClass;
  /**
   * Characters of text (chat content and tool-call arguments, or completion text) that went out,
   * to estimate a lost usage.
   */
  producedChars: number;
}

/** A whole answer in OpenAI's format. */
export interface JsonResult<Body> {
  kind: "json";
  body: Body;
  /** The upstream's own JSON text of `body`, sent on as it is instead of serialized again. */
  text?: string;
}

/** A streamed answer: SSE bytes in the format of the operation (OpenAI's, or Anthropic's). */
export interface StreamResult {
  kind: "stream";
  /** SSE bytes, produced as the upstream sends them. */
  body: ReadableStream<Uint8Array>;
  /** Settles when `body` has ended, was canceled or broke off. */
  outcome: Promise<StreamOutcome>;
}

/** A request in Anthropic's Messages format, with the Anthropic headers the client sent. */
export interface MessagesInput<Request = MessagesRequest> {
  request: Request;
  /** The client's `anthropic-version` and `anthropic-beta`, passed on when set. */
  headers: { anthropicVersion?: string; anthropicBeta?: string };
}

/** A provider's answer: a whole one (a chat completion by default), or a stream. */
export type ProviderResult<Body = ChatCompletion> = JsonResult<Body> | StreamResult;

/**
 * An upstream LLM service. A provider turns an OpenAI request into its upstream's call and the
 * answer back into OpenAI's format (or, for Messages, speaks Anthropic's natively); it throws
 * {@linkcode UpstreamError} on failure. Chat is required; legacy completions and embeddings are
 * optional, and routing skips a deployment whose provider lacks the one a request needs.
 */
export interface Provider {
  /** The `provider` label of metrics and logs. */
  readonly name: string;
  /** The models the provider offers, in OpenAI's `/v1/models` shape. */
  listModels(signal: AbortSignal): Promise<ModelInfo[]>;
  /** Makes one chat completion call. */
  chatCompletion(request: ChatCompletionRequest, call: UpstreamCall): Promise<ProviderResult>;
  /** Makes one legacy completions call (`POST /v1/completions`), whole or streamed. */
  completions?(
    request: CompletionRequest,
    call: UpstreamCall,
  ): Promise<ProviderResult<Completion>>;
  /**
   * Makes one call to an upstream that speaks OpenAI's Responses API (`POST /v1/responses`):
   * `body` goes on as the client wrote it, under the upstream's model, and the answer comes back
   * untouched, whole or as its SSE bytes. Providers without it get Responses requests translated
   * to chat completions.
   */
  responses?(
    body: Readonly<Record<string, unknown>>,
    call: UpstreamCall,
  ): Promise<ProviderResult<Record<string, unknown>>>;
  /** Makes one embeddings call (`POST /v1/embeddings`); never streamed. */
  embeddings?(
    request: EmbeddingRequest,
    call: UpstreamCall,
  ): Promise<JsonResult<EmbeddingResponse>>;
  /**
   * Makes one call of Anthropic's Messages API (`POST /v1/messages`) natively, body and stream
   * passed through; a provider without it gets Messages requests translated into chat.
   */
  messages?(input: MessagesInput, call: UpstreamCall): Promise<ProviderResult<MessagesAnswer>>;
  /** Counts a Messages request's tokens upstream (`POST /v1/messages/count_tokens`). */
  countTokens?(
    input: MessagesInput<CountTokensRequest>,
    call: UpstreamCall,
  ): Promise<JsonResult<CountTokensAnswer>>;
}
