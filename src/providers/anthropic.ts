import type {
  ChatCompletionRequest,
  CountTokensAnswer,
  CountTokensRequest,
  MessagesAnswer,
  ModelInfo,
} from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import type { UpstreamFetch } from "./openai.ts";
import type { JsonResult, MessagesInput, Provider, ProviderResult, UpstreamCall } from "./types.ts";
import { followModelPages } from "./_model_pages.ts";
import { eventStream, parseJsonObject, readText, sendUpstream } from "./_upstream_http.ts";
import type { AnthropicModelPage, AnthropicResponse } from "./_anthropic_api.ts";
import { toAnthropicRequest } from "./_anthropic_request.ts";
import { fromAnthropicResponse, modelInfo } from "./_anthropic_response.ts";
import { passAnthropicStream, relayAnthropicStream } from "./_anthropic_stream.ts";

/** Settings of an {@linkcode AnthropicProvider}. */
export interface AnthropicProviderOptions {
  /** Anthropic's key, sent as `x-api-key`; never the client's own key. */
  apiKey: string;
  /** `max_tokens` for requests that set none (Anthropic requires it): a positive integer. */
  defaultMaxTokens: number;
  /** Base URL without the version path; `https://api.anthropic.com` by default. */
  baseUrl?: string;
  /** The `anthropic-version` header; `2023-06-01` by default. */
  anthropicVersion?: string;
  /** The HTTP client; defaults to the global `fetch`. */
  fetch?: UpstreamFetch;
}

const DEFAULT_BASE_URL = "https://api.anthropic.com";
const DEFAULT_VERSION = "2023-06-01";

/**
 * Anthropic's Messages API behind OpenAI's chat completions (requests, answers, streams and errors
 * translated both ways), and natively for clients of the Messages API itself. What Anthropic cannot
 * honour is refused with the client's 400, before any call.
 */
export class AnthropicProvider implements Provider {
  readonly name = "anthropic";
  readonly #baseUrl: string;
  readonly #apiKey: string;
  readonly #version: string;
  readonly #defaultMaxTokens: number;
  readonly #fetch: UpstreamFetch;

  constructor(options: AnthropicProviderOptions) {
    if (!Number.isInteger(options.defaultMaxTokens) || options.defaultMaxTokens <= 0) {
      throw new RangeError(
        `Cannot use Anthropic as 'defaultMaxTokens' must be a positive integer: current value is ${options.defaultMaxTokens}`,
      );
    }
    this.#baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#version = options.anthropicVersion ?? DEFAULT_VERSION;
    this.#defaultMaxTokens = options.defaultMaxTokens;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Lists Anthropic's models, following its pages. */
  listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    return followModelPages(async (after) => {
      const query = after ? `?limit=1000&after_id=${encodeURIComponent(after)}` : "?limit=1000";
      const response = await this.#send("GET", `/v1/models${query}`, undefined, {
        signal,
        traceId: "",
      });
      const body = parseJsonObject<Partial<AnthropicModelPage>>(await readText(response, signal));
      if (!Array.isArray(body.data)) {
        throw new UpstreamError("invalid_response", "The upstream's model list has no data array");
      }
      const next = body.has_more ? body.last_id ?? undefined : undefined;
      return { models: body.data.map(modelInfo), next };
    });
  }

  /** Calls `/v1/messages` and answers in OpenAI's format, streamed as Anthropic streams. */
  async chatCompletion(
    request: ChatCompletionRequest,
    call: UpstreamCall,
  ): Promise<ProviderResult> {
    const body = toAnthropicRequest(request, {
      upstreamModel: call.upstreamModel,
      defaultMaxTokens: this.#defaultMaxTokens,
    });
    const response = await this.#send("POST", "/v1/messages", body, call);
    // Anthropic's answer has no timestamp: the completion is dated when it arrives.
    const created = Math.floor(Date.now() / 1000);
    if (!request.stream) {
      const text = await readText(response, call.signal);
      const message = parseJsonObject<AnthropicResponse>(text);
      return {
        kind: "json",
        body: fromAnthropicResponse(message, { model: request.model, created }),
      };
    }
    return {
      kind: "stream",
      ...relayAnthropicStream(await eventStream(response), {
        model: request.model,
        created,
        clientWantsUsage: request.stream_options?.include_usage === true,
        apiKey: this.#apiKey,
        signal: call.signal,
      }),
    };
  }

  /**
   * Calls `/v1/messages` with the client's own Messages request (only the model renamed to the
   * deployment's) and its Anthropic headers; the answer and the stream's events pass through
   * untouched.
   */
  async messages(
    input: MessagesInput,
    call: UpstreamCall,
  ): Promise<ProviderResult<MessagesAnswer>> {
    const body = { ...input.request, model: call.upstreamModel };
    const response = await this.#send("POST", "/v1/messages", body, call, input.headers);
    if (!input.request.stream) {
      const text = await readText(response, call.signal);
      return { kind: "json", body: parseJsonObject<MessagesAnswer>(text), text };
    }
    return {
      kind: "stream",
      ...passAnthropicStream(await eventStream(response), {
        signal: call.signal,
        apiKey: this.#apiKey,
      }),
    };
  }

  /** Calls `/v1/messages/count_tokens` with the client's request, the model renamed. */
  async countTokens(
    input: MessagesInput<CountTokensRequest>,
    call: UpstreamCall,
  ): Promise<JsonResult<CountTokensAnswer>> {
    const body = { ...input.request, model: call.upstreamModel };
    const response = await this.#send(
      "POST",
      "/v1/messages/count_tokens",
      body,
      call,
      input.headers,
    );
    const text = await readText(response, call.signal);
    const counted = parseJsonObject<CountTokensAnswer>(text);
    if (!Number.isSafeInteger(counted.input_tokens)) {
      throw new UpstreamError("invalid_response", "The upstream's token count has no input_tokens");
    }
    return { kind: "json", body: counted, text };
  }

  async #send(
    method: string,
    path: string,
    body: unknown,
    call: Pick<UpstreamCall, "signal" | "traceId" | "traceparent">,
    client: MessagesInput["headers"] = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {
      "x-api-key": this.#apiKey,
      "anthropic-version": client.anthropicVersion ?? this.#version,
    };
    if (client.anthropicBeta) headers["anthropic-beta"] = client.anthropicBeta;
    return await sendUpstream({
      fetch: this.#fetch,
      url: `${this.#baseUrl}${path}`,
      method,
      headers,
      body,
      call,
      apiKey: this.#apiKey,
    });
  }
}
