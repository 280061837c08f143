import type { UpstreamErrorDetail } from "./_upstream_http.ts";
import type { OpenAIDialect } from "./_openai_dialect.ts";
import type { ChunkShaper } from "./openai_stream.ts";
import { OpenAIProvider, type UpstreamFetch } from "./openai.ts";
import type { TokenSource } from "./_token_file.ts";

/** The dated API version of deployments that set none: the latest generally available one. */
export const AZURE_DEFAULT_API_VERSION = "2024-10-21";

/** Settings of an Azure OpenAI deployment. */
export interface AzureProviderOptions {
  /** The resource's endpoint, e.g. `https://my-resource.openai.azure.com`. */
  endpoint: string;
  /** The resource's key, sent as `api-key`; not with `token`. */
  apiKey?: string;
  /** An Entra ID access token source, sent as a bearer token; not with `apiKey`. */
  token?: TokenSource;
  /** The Azure deployment, named in the URL (and the body in v1); the upstream model by default. */
  deployment?: string;
  /**
   * A dated API version (`2024-10-21`, `2025-04-01-preview`) for
   * `/openai/deployments/{deployment}/...?api-version=`, or `v1` for `/openai/v1/...`.
   */
  apiVersion?: string;
  /** The HTTP client; defaults to the global `fetch`. */
  fetch?: UpstreamFetch;
}

/**
 * Azure OpenAI: OpenAI's API under Azure's paths and credentials, its content filter's refusals
 * told as a `content_filter` error and its stream annotations reshaped into OpenAI's chunks.
 */
export function createAzureProvider(options: AzureProviderOptions): OpenAIProvider {
  if ((options.apiKey === undefined) === (options.token === undefined)) {
    throw new TypeError("Cannot use Azure OpenAI as it needs exactly one of 'apiKey' and 'token'");
  }
  return new OpenAIProvider({
    name: "azure",
    baseUrl: options.endpoint,
    apiKey: options.apiKey,
    fetch: options.fetch,
    dialect: azureDialect(options),
  });
}

function azureDialect(options: AzureProviderOptions): OpenAIDialect {
  const endpoint = options.endpoint.replace(/\/+$/, "");
  const version = options.apiVersion ?? AZURE_DEFAULT_API_VERSION;
  const deploymentOf = (upstreamModel: string) => options.deployment ?? upstreamModel;
  const { apiKey, token } = options;
  return {
    url(path, upstreamModel) {
      if (version === "v1") return `${endpoint}/openai/v1${path}`;
      const query = `?api-version=${encodeURIComponent(version)}`;
      // The model list is the resource's; every other call goes to one deployment.
      if (path === "/models") return `${endpoint}/openai/models${query}`;
      const deployment = encodeURIComponent(deploymentOf(upstreamModel));
      return `${endpoint}/openai/deployments/${deployment}${path}${query}`;
    },
    bodyModel: deploymentOf,
    credentials: token
      ? async () => ({ authorization: `Bearer ${await token.token()}` })
      : () => Promise.resolve<Record<string, string>>({ "api-key": apiKey ?? "" }),
    explainError: contentFilterError,
    streamShaper: annotationShaper,
  };
}

interface AzureErrorBody {
  error?: {
    code?: unknown;
    param?: unknown;
    innererror?: {
      content_filter_result?: Record<string, { filtered?: unknown; severity?: unknown }>;
    };
  };
}

/**
 * A prompt Azure's content filter refused (400, `code: content_filter`), told as such with the
 * categories it filtered; Azure's own message is left out for its length and links.
 */
export function contentFilterError(body: unknown): UpstreamErrorDetail | undefined {
  const error = (body as AzureErrorBody | undefined)?.error;
  if (error?.code !== "content_filter") return undefined;
  const filtered = Object.entries(error.innererror?.content_filter_result ?? {})
    .filter(([, result]) => result?.filtered === true)
    .map(([category, result]) =>
      typeof result.severity === "string" ? `${category}: ${result.severity}` : category
    );
  const which = filtered.length > 0 ? ` (${filtered.join(", ")})` : "";
  return {
    message: `Azure OpenAI's content filter blocked the prompt${which}`,
    code: "content_filter",
    param: typeof error.param === "string" ? error.param : undefined,
  };
}

interface StreamChoice {
  index?: unknown;
  finish_reason?: unknown;
  delta?: unknown;
  text?: unknown;
}

/**
 * Azure's streams carry annotation events OpenAI's have not: the prompt's filter results (no
 * choices) and the completion's (choices without text, with empty ids). They are dropped, except
 * one that ends a choice (`content_filter`), which becomes OpenAI's chunk under the stream's id.
 */
export function annotationShaper(): ChunkShaper {
  let head: Record<string, unknown> = {
    id: "",
    object: "chat.completion.chunk",
    created: 0,
    model: "",
  };
  return (chunk) => {
    // Anything else, such as an in-band error, is no annotation and goes on as it came.
    if (!Array.isArray(chunk.choices)) return chunk;
    const choices = chunk.choices.filter((choice): choice is StreamChoice =>
      typeof choice === "object" && choice !== null
    );
    const carriesText = choices.some((choice) => "delta" in choice || "text" in choice);
    if (carriesText) {
      if (chunk.id) {
        head = { id: chunk.id, object: chunk.object, created: chunk.created, model: chunk.model };
      }
      return chunk;
    }
    const ended = choices.filter((choice) => typeof choice.finish_reason === "string");
    if (ended.length === 0) return chunk.usage ? chunk : undefined;
    const legacy = head.object === "text_completion";
    return {
      ...head,
      choices: ended.map((choice) => ({
        index: choice.index,
        ...(legacy ? { text: "" } : { delta: {} }),
        logprobs: null,
        finish_reason: choice.finish_reason,
      })),
      ...(chunk.usage ? { usage: chunk.usage } : {}),
    };
  };
}
