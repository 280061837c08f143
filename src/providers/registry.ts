import { AnthropicProvider } from "./anthropic.ts";
import { createAzureProvider } from "./azure.ts";
import { GeminiProvider } from "./gemini.ts";
import { createPresetProvider, OPENAI_PRESETS } from "./presets.ts";
import { FileTokenSource, type TokenSource } from "./_token_file.ts";
import { ServiceAccountTokenSource } from "./_google_service_account.ts";
import { MockProvider } from "./mock.ts";
import { OpenAIProvider, type UpstreamFetch } from "./openai.ts";
import type { Provider } from "./types.ts";

/** What a deployment's provider is built from. */
export interface ProviderSettings {
  /** The deployment's `base_url`, or its provider's default from the environment. */
  baseUrl: string | undefined;
  /** The deployment's key, or its provider's default from the environment. */
  apiKey: string | undefined;
  /** The HTTP client, which keeps the deployment's timeouts. */
  fetch: UpstreamFetch;
  /** Completion tokens to ask for when a request sets no limit and the upstream needs one. */
  defaultMaxTokens: number;
  /** The models the offline `mock` provider answers. */
  mockModels: string[];
  /** An `azure` deployment's Azure deployment name (its `azure_deployment`). */
  azureDeployment?: string;
  /** An `azure` deployment's `api_version`: a dated version or `v1`. */
  apiVersion?: string;
  /**
   * A file holding a bearer token to send instead of a key: an `azure` deployment's
   * `azure_ad_token_file` (Entra ID) or a `gemini` one's `vertex_token_file` (Google OAuth).
   */
  tokenFile?: string;
  /** A `gemini` deployment's `vertex_project`: it calls Vertex AI instead of AI Studio. */
  vertexProject?: string;
  /** A `gemini` deployment's `vertex_location`, e.g. `us-central1`. */
  vertexLocation?: string;
  /** A `gemini` deployment's `vertex_credentials_file`: a service account's JSON key. */
  vertexCredentialsFile?: string;
  /** An `openai` deployment's `api`: `responses` when its upstream serves `/responses` too. */
  api?: "chat" | "responses";
}

/** Builds one provider; throws an `Error` whose message says what setting is missing. */
export type ProviderFactory = (settings: ProviderSettings) => Provider;

/**
 * Every provider a deployment may name, by the name `MODEL_ROUTES` uses. Adding a provider is
 * adding its line here.
 */
export const PROVIDERS: Readonly<Record<string, ProviderFactory>> = {
  openai: (settings) =>
    new OpenAIProvider({
      baseUrl: required(settings.baseUrl, "a base_url (or OPENAI_BASE_URL)"),
      apiKey: settings.apiKey,
      fetch: settings.fetch,
      nativeResponses: settings.api === "responses",
    }),
  anthropic: (settings) =>
    new AnthropicProvider({
      baseUrl: settings.baseUrl,
      apiKey: required(settings.apiKey, "an api_key_env (or ANTHROPIC_API_KEY)"),
      fetch: settings.fetch,
      defaultMaxTokens: settings.defaultMaxTokens,
    }),
  mock: (settings) => new MockProvider({ models: settings.mockModels }),
  azure: azureProvider,
  gemini: geminiProvider,
  ...Object.fromEntries(Object.keys(OPENAI_PRESETS).map((name) => [name, presetFactory(name)])),
};

/** The key variable of each preset, read when a deployment of it sets no `api_key_env`. */
export const PRESET_KEY_VARIABLES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(OPENAI_PRESETS).map(([name, preset]) => [name, preset.keyVariable]),
);

function azureProvider(settings: ProviderSettings): Provider {
  const endpoint = required(settings.baseUrl, "a base_url (or AZURE_OPENAI_ENDPOINT)");
  const common = {
    endpoint,
    deployment: settings.azureDeployment,
    apiVersion: settings.apiVersion,
    fetch: settings.fetch,
  };
  if (settings.tokenFile === undefined) {
    const what = "an api_key_env (or AZURE_OPENAI_API_KEY) or an azure_ad_token_file";
    return createAzureProvider({ ...common, apiKey: required(settings.apiKey, what) });
  }
  return createAzureProvider({ ...common, token: fileToken(settings.tokenFile) });
}

function geminiProvider(settings: ProviderSettings): Provider {
  const common = { baseUrl: settings.baseUrl, fetch: settings.fetch };
  if (settings.vertexProject === undefined) {
    const what = "an api_key_env (or GEMINI_API_KEY), or the vertex_ fields";
    return new GeminiProvider({ ...common, apiKey: required(settings.apiKey, what) });
  }
  return new GeminiProvider({
    ...common,
    vertex: {
      project: settings.vertexProject,
      location: required(settings.vertexLocation, "a vertex_location"),
      token: vertexToken(settings),
    },
  });
}

/** The token of a Vertex AI deployment: from its token file, or minted with its service account. */
function vertexToken(settings: ProviderSettings): TokenSource {
  if (settings.tokenFile !== undefined) return fileToken(settings.tokenFile);
  const what = "a vertex_token_file or a vertex_credentials_file";
  const path = required(settings.vertexCredentialsFile, what);
  if (!readableFile(path)) throw new Error(`names the key file ${path}, which cannot be read`);
  return new ServiceAccountTokenSource({ path });
}

/** A token source for a file that must be readable now, so that a typo stops the start. */
function fileToken(path: string): FileTokenSource {
  if (!readableFile(path)) throw new Error(`names the token file ${path}, which cannot be read`);
  return new FileTokenSource({ path });
}

function presetFactory(name: string): ProviderFactory {
  return (settings) =>
    createPresetProvider(name, {
      baseUrl: settings.baseUrl,
      apiKey: settings.apiKey,
      fetch: settings.fetch,
    });
}

function readableFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function required(value: string | undefined, what: string): string {
  if (value === undefined) throw new Error(`needs ${what}`);
  return value;
}
