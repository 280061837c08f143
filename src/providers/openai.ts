import type {
  ChatCompletion,
  ChatCompletionRequest,
  Completion,
  CompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
  ModelInfo,
} from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import { eventStream, parseJsonObject, readText, sendUpstream } from "./_upstream_http.ts";
import { applyRules, type OpenAIDialect } from "./_openai_dialect.ts";
import { relayOpenAIStream } from "./openai_stream.ts";
import { relayResponsesStream } from "./responses_stream.ts";
import type { JsonResult, Provider, ProviderResult, UpstreamCall } from "./types.ts";

/** Settings of an OpenAI-compatible upstream. */
export interface OpenAIProviderOptions {
  /** Base URL including the version path, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Sent as the upstream's bearer token; never the client's own key. */
  apiKey?: string;
  /** The HTTP client; defaults to the global `fetch`. */
  fetch?: UpstreamFetch;
  /** The `provider` label of metrics and logs; `openai` by default. */
  name?: string;
  /** How the upstream differs from OpenAI's API (Azure, the presets); not at all by default. */
  dialect?: OpenAIDialect;
  /** Whether the upstream serves OpenAI's Responses API, which then passes through untouched. */
  nativeResponses?: boolean;
}

/** The part of `fetch` a provider uses, so a faster client can stand in for it. */
export type UpstreamFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export { scrubSecrets } from "./_upstream_http.ts";
export type { OpenAIDialect, RequestRules } from "./_openai_dialect.ts";

/**
 * Any server that speaks OpenAI's API: chat completions, legacy completions and embeddings. It is
 * the one base of every OpenAI-compatible provider, whose differences its `dialect` describes.
 */
export class OpenAIProvider implements Provider {
  readonly name: string;
  readonly #baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #fetch: UpstreamFetch;
  readonly #dialect: OpenAIDialect;
  /** Present only for an upstream that speaks the Responses API: see {@linkcode Provider}. */
  readonly responses?: Provider["responses"];

  constructor(options: OpenAIProviderOptions) {
    this.name = options.name ?? "openai";
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? fetch;
    this.#dialect = options.dialect ?? {};
    if (options.nativeResponses) this.responses = (body, call) => this.#responses(body, call);
  }

  /** Lists the upstream's models. */
  async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    const response = await this.#send("GET", "/models", undefined, {
      signal,
      traceId: "",
      upstreamModel: "",
    });
    const body = parseJsonObject<{ data?: ModelInfo[] }>(await readText(response, signal));
    if (!Array.isArray(body.data)) {
      throw new UpstreamError("invalid_response", "The upstream's model list has no data array");
    }
    return body.data;
  }

  /** Calls `/chat/completions`, asking for usage in streams. */
  chatCompletion(request: ChatCompletionRequest, call: UpstreamCall): Promise<ProviderResult> {
    return this.#generate<ChatCompletion>("/chat/completions", request, call);
  }

  /** Calls `/completions`, asking for usage in streams. */
  completions(
    request: CompletionRequest,
    call: UpstreamCall,
  ): Promise<ProviderResult<Completion>> {
    return this.#generate<Completion>("/completions", request, call);
  }

  /** Calls `/embeddings`. */
  async embeddings(
    request: EmbeddingRequest,
    call: UpstreamCall,
  ): Promise<JsonResult<EmbeddingResponse>> {
    const sent = applyRules(
      { ...request, model: this.#bodyModel(call) },
      {
        rules: this.#dialect.rules,
        provider: this.name,
      },
    );
    const response = await this.#send("POST", "/embeddings", sent, call);
    const text = await readText(response, call.signal);
    const body = parseJsonObject<EmbeddingResponse>(text);
    if (!Array.isArray(body.data)) {
      throw new UpstreamError("invalid_response", "The upstream's embeddings have no data array");
    }
    return { kind: "json", body, text };
  }

  /**
   * A call that generates text, whole or streamed: the request goes on as sent, under the
   * upstream's model name, and a stream asks for its usage, whose chunk is dropped again unless
   * the client asked for it too.
   */
  async #generate<Body extends object>(
    path: string,
    request: {
      stream?: boolean | null;
      stream_options?: { include_usage?: boolean } | null;
    },
    call: UpstreamCall,
  ): Promise<ProviderResult<Body>> {
    const clientWantsUsage = request.stream_options?.include_usage === true;
    const model = this.#bodyModel(call);
    const asked = request.stream
      ? { ...request, model, stream_options: { ...request.stream_options, include_usage: true } }
      : { ...request, model };
    const body = applyRules(asked, { rules: this.#dialect.rules, provider: this.name });
    const response = await this.#send("POST", path, body, call);
    if (!request.stream) {
      const text = await readText(response, call.signal);
      return { kind: "json", body: parseJsonObject<Body>(text), text };
    }
    return {
      kind: "stream",
      ...relayOpenAIStream(await eventStream(response), {
        clientWantsUsage,
        signal: call.signal,
        shape: this.#dialect.streamShaper?.(),
      }),
    };
  }

  /** Calls `/responses` with the client's body under the upstream's model; nothing else changes. */
  async #responses(
    request: Readonly<Record<string, unknown>>,
    call: UpstreamCall,
  ): Promise<ProviderResult<Record<string, unknown>>> {
    const response = await this.#send("POST", "/responses", {
      ...request,
      model: this.#bodyModel(call),
    }, call);
    if (request.stream !== true) {
      const text = await readText(response, call.signal);
      return { kind: "json", body: parseJsonObject<Record<string, unknown>>(text), text };
    }
    return { kind: "stream", ...relayResponsesStream(await eventStream(response), call.signal) };
  }

  #bodyModel(call: UpstreamCall): string {
    return this.#dialect.bodyModel?.(call.upstreamModel) ?? call.upstreamModel;
  }

  async #send(
    method: string,
    path: string,
    body: unknown,
    call: Pick<UpstreamCall, "signal" | "traceId" | "traceparent" | "upstreamModel">,
  ): Promise<Response> {
    const dialect = this.#dialect;
    const headers = dialect.credentials
      ? await dialect.credentials()
      : this.#apiKey
      ? { authorization: `Bearer ${this.#apiKey}` }
      : {};
    return await sendUpstream({
      fetch: this.#fetch,
      url: dialect.url?.(path, call.upstreamModel) ?? `${this.#baseUrl}${path}`,
      method,
      headers,
      body,
      call,
      apiKey: this.#apiKey,
      explainError: dialect.explainError,
    });
  }
}
