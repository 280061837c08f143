import {
  badRequest,
  type ChatCompletionRequest,
  type EmbeddingRequest,
  type EmbeddingResponse,
  type ModelInfo,
} from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import type { UpstreamFetch } from "./openai.ts";
import type { JsonResult, Provider, ProviderResult, UpstreamCall } from "./types.ts";
import type { TokenSource } from "./_token_file.ts";
import { float32Base64 } from "./_float32_base64.ts";
import { followModelPages } from "./_model_pages.ts";
import { eventStream, parseJsonObject, readText, sendUpstream } from "./_upstream_http.ts";
import type {
  GeminiEmbedding,
  GeminiModelPage,
  GeminiResponse,
  GeminiUsageMetadata,
} from "./_gemini_api.ts";
import { toGeminiRequest } from "./_gemini_request.ts";
import { explainGeminiError, fromGeminiResponse, modelInfo } from "./_gemini_response.ts";
import { refuseFailedStart, relayGeminiStream } from "./_gemini_stream.ts";

/** Where a Vertex AI deployment's models are, and the token it calls them with. */
export interface VertexSettings {
  /** The Google Cloud project id. */
  project: string;
  /** The region, e.g. `us-central1`, or `global`. */
  location: string;
  /** The service account's OAuth access token, sent as a bearer token. */
  token: TokenSource;
}

/** Settings of a {@linkcode GeminiProvider}: an AI Studio key, or Vertex AI. */
export interface GeminiProviderOptions {
  /** Google AI Studio's key, sent as `x-goog-api-key`; not with `vertex`. */
  apiKey?: string;
  /** Vertex AI instead of AI Studio; not with `apiKey`. */
  vertex?: VertexSettings;
  /**
   * The API's host: `https://generativelanguage.googleapis.com` for AI Studio and
   * `https://{location}-aiplatform.googleapis.com` for Vertex AI by default.
   */
  baseUrl?: string;
  /** The HTTP client; defaults to the global `fetch`. */
  fetch?: UpstreamFetch;
}

const AI_STUDIO_BASE_URL = "https://generativelanguage.googleapis.com";

/** One call of the API: a JSON body (none for a `GET`) under the gateway's trace. */
interface SendOptions {
  method?: "GET" | "POST";
  body?: unknown;
  call: Pick<UpstreamCall, "signal" | "traceId" | "traceparent">;
}

/** What an embeddings call asks for. */
interface EmbeddingCall {
  dimensions: number | undefined;
  call: UpstreamCall;
}

/** Vectors in the order of the input, and the tokens counted when Google counted them. */
interface Embedded {
  vectors: GeminiEmbedding[];
  usage: number | undefined;
}

interface Endpoint {
  /** The URL of a model's method, e.g. `generateContent`. */
  method(model: string, name: string): string;
  /** The URL of a page of the model list. */
  models(pageToken: string | undefined): string;
  /** The headers of the credentials, and the secret to keep out of messages. */
  credentials(): Promise<{ headers: Record<string, string>; secret: string }>;
}

/**
 * Google's Gemini behind OpenAI's chat completions and embeddings, on Google AI Studio or Vertex
 * AI: requests, answers, streams and errors translated both ways. What Gemini cannot honour is
 * refused with the client's 400, before any call, and a prompt Gemini blocked is the client's
 * 400 with the `content_filter` code, streamed or not.
 */
export class GeminiProvider implements Provider {
  readonly name = "gemini";
  readonly #endpoint: Endpoint;
  readonly #fetch: UpstreamFetch;
  readonly #vertex: boolean;

  constructor(options: GeminiProviderOptions) {
    if ((options.apiKey === undefined) === (options.vertex === undefined)) {
      throw new TypeError("Cannot use Gemini as it needs exactly one of 'apiKey' and 'vertex'");
    }
    this.#vertex = options.vertex !== undefined;
    this.#endpoint = options.vertex
      ? vertexEndpoint(options.vertex, options.baseUrl)
      : aiStudioEndpoint(options.apiKey ?? "", options.baseUrl);
    this.#fetch = options.fetch ?? fetch;
  }

  /** Lists Gemini's models, following the pages, under their bare names. */
  listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    return followModelPages(async (pageToken) => {
      const response = await this.#send(this.#endpoint.models(pageToken), {
        method: "GET",
        call: { signal, traceId: "" },
      });
      const body = parseJsonObject<GeminiModelPage>(await readText(response, signal));
      const entries = body.models ?? body.publisherModels;
      if (!Array.isArray(entries)) {
        throw new UpstreamError("invalid_response", "The upstream's model list has no models");
      }
      const next = body.nextPageToken;
      return { models: entries.map(modelInfo), next: typeof next === "string" ? next : undefined };
    });
  }

  /** Calls `generateContent`, or `streamGenerateContent` with `alt=sse` for a stream. */
  async chatCompletion(
    request: ChatCompletionRequest,
    call: UpstreamCall,
  ): Promise<ProviderResult> {
    const body = toGeminiRequest(request);
    const model = call.upstreamModel;
    // Gemini's answer has no timestamp: the completion is dated when it arrives.
    const created = Math.floor(Date.now() / 1000);
    if (!request.stream) {
      const url = this.#endpoint.method(model, "generateContent");
      const answer = await this.#json<GeminiResponse>(url, { body, call });
      return { kind: "json", body: fromGeminiResponse(answer, { model: request.model, created }) };
    }
    const url = `${this.#endpoint.method(model, "streamGenerateContent")}?alt=sse`;
    const { response, secret } = await this.#sent(url, { body, call });
    const upstream = await refuseFailedStart(await eventStream(response), call.signal);
    return {
      kind: "stream",
      ...relayGeminiStream(upstream, {
        model: request.model,
        created,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: call.signal,
        // A mid-stream error that echoes the key or token is told without it.
        apiKey: secret,
      }),
    };
  }

  /**
   * Embeds the input: one text with `embedContent`, several with one `batchEmbedContents` (on
   * Vertex AI, one `predict`); `dimensions` is Gemini's `outputDimensionality`.
   */
  async embeddings(
    request: EmbeddingRequest,
    call: UpstreamCall,
  ): Promise<JsonResult<EmbeddingResponse>> {
    const input = request.input;
    if (!(typeof input === "string" || input.every((item) => typeof item === "string"))) {
      throw badRequest(
        "Gemini embeds text only: 'input' must be strings",
        "invalid_value",
        "input",
      );
    }
    const texts = typeof input === "string" ? [input] : input as string[];
    const asked = { dimensions: request.dimensions, call };
    const { vectors, usage } = this.#vertex
      ? await this.#predictEmbeddings(texts, asked)
      : await this.#embedContents(texts, { ...asked, single: typeof input === "string" });
    if (vectors.length !== texts.length || vectors.some((v) => !Array.isArray(v?.values))) {
      throw new UpstreamError(
        "invalid_response",
        "The upstream's embeddings do not match the input",
      );
    }
    const body: EmbeddingResponse = {
      object: "list",
      data: vectors.map((vector, index) => ({
        object: "embedding",
        index,
        embedding: request.encoding_format === "base64"
          ? float32Base64(vector.values)
          : vector.values,
      })),
      model: request.model,
    };
    if (usage !== undefined) body.usage = { prompt_tokens: usage, total_tokens: usage };
    return { kind: "json", body };
  }

  /** AI Studio embeds one text with `embedContent` and several with `batchEmbedContents`. */
  async #embedContents(
    texts: string[],
    { single, dimensions, call }: EmbeddingCall & { single: boolean },
  ): Promise<Embedded> {
    const model = call.upstreamModel;
    const one = (text: string) => ({
      content: { parts: [{ text }] },
      ...(dimensions === undefined ? {} : { outputDimensionality: dimensions }),
    });
    type Answer = {
      embedding?: GeminiEmbedding;
      embeddings?: GeminiEmbedding[];
      usageMetadata?: GeminiUsageMetadata;
    };
    const answer = single
      ? await this.#json<Answer>(this.#endpoint.method(model, "embedContent"), {
        body: one(texts[0]),
        call,
      })
      : await this.#json<Answer>(this.#endpoint.method(model, "batchEmbedContents"), {
        body: { requests: texts.map((text) => ({ model: resourceName(model), ...one(text) })) },
        call,
      });
    const vectors = single ? (answer.embedding ? [answer.embedding] : []) : answer.embeddings;
    const usage = answer.usageMetadata?.promptTokenCount;
    return { vectors: vectors ?? [], usage: typeof usage === "number" ? usage : undefined };
  }

  /** Vertex AI embeds with `predict`, whose answers count each input's tokens. */
  async #predictEmbeddings(
    texts: string[],
    { dimensions, call }: EmbeddingCall,
  ): Promise<Embedded> {
    type Prediction = { embeddings?: GeminiEmbedding & { statistics?: { token_count?: number } } };
    const answer = await this.#json<{ predictions?: Prediction[] }>(
      this.#endpoint.method(call.upstreamModel, "predict"),
      {
        body: {
          instances: texts.map((content) => ({ content })),
          ...(dimensions === undefined ? {} : { parameters: { outputDimensionality: dimensions } }),
        },
        call,
      },
    );
    const predictions = Array.isArray(answer.predictions) ? answer.predictions : [];
    const counts = predictions.map((prediction) => prediction.embeddings?.statistics?.token_count);
    const counted = counts.every((count) => typeof count === "number");
    return {
      vectors: predictions.map((prediction) => prediction.embeddings as GeminiEmbedding),
      usage: counted && counts.length > 0
        ? counts.reduce((sum: number, count) => sum + (count ?? 0), 0)
        : undefined,
    };
  }

  async #json<T extends object>(url: string, request: SendOptions): Promise<T> {
    const response = await this.#send(url, request);
    return parseJsonObject<T>(await readText(response, request.call.signal));
  }

  async #send(url: string, options: SendOptions): Promise<Response> {
    return (await this.#sent(url, options)).response;
  }

  /** The answer, and the secret it was called with (a Vertex AI token changes over time). */
  async #sent(
    url: string,
    { body, call, method = "POST" }: SendOptions,
  ): Promise<{ response: Response; secret: string }> {
    const { headers, secret } = await this.#endpoint.credentials();
    const response = await sendUpstream({
      fetch: this.#fetch,
      url,
      method,
      headers,
      body,
      call,
      apiKey: secret,
      explainError: explainGeminiError,
    });
    return { response, secret };
  }
}

function aiStudioEndpoint(apiKey: string, baseUrl: string | undefined): Endpoint {
  const base = (baseUrl ?? AI_STUDIO_BASE_URL).replace(/\/+$/, "");
  return {
    method: (model, name) => `${base}/v1beta/${resourceName(model)}:${name}`,
    models: (pageToken) =>
      `${base}/v1beta/models?pageSize=1000${
        pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ""
      }`,
    credentials: () => Promise.resolve({ headers: { "x-goog-api-key": apiKey }, secret: apiKey }),
  };
}

function vertexEndpoint(vertex: VertexSettings, baseUrl: string | undefined): Endpoint {
  const { project, location, token } = vertex;
  // The global location has no regional host.
  const host = location === "global"
    ? "https://aiplatform.googleapis.com"
    : `https://${location}-aiplatform.googleapis.com`;
  const base = (baseUrl ?? host).replace(/\/+$/, "");
  const models = `projects/${encodeURIComponent(project)}/locations/${
    encodeURIComponent(location)
  }/publishers/google/models`;
  return {
    method: (model, name) => `${base}/v1/${models}/${encodeURIComponent(bareName(model))}:${name}`,
    models: (pageToken) =>
      `${base}/v1beta1/publishers/google/models?pageSize=1000${
        pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ""
      }`,
    credentials: async () => {
      const secret = await token.token();
      return { headers: { authorization: `Bearer ${secret}` }, secret };
    },
  };
}

/**
 * AI Studio's resource of a model: `models/{model}` for a bare name, or the name as it is when it
 * names its collection (`models/...`, `tunedModels/...`).
 */
function resourceName(model: string): string {
  return model.includes("/") ? model : `models/${encodeURIComponent(model)}`;
}

function bareName(model: string): string {
  return model.split("/").at(-1) ?? model;
}
