import { AnthropicProvider } from "./anthropic.ts";
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
    }),
  anthropic: (settings) =>
    new AnthropicProvider({
      baseUrl: settings.baseUrl,
      apiKey: required(settings.apiKey, "an api_key_env (or ANTHROPIC_API_KEY)"),
      fetch: settings.fetch,
      defaultMaxTokens: settings.defaultMaxTokens,
    }),
  mock: (settings) => new MockProvider({ models: settings.mockModels }),
};

function required(value: string | undefined, what: string): string {
  if (value === undefined) throw new Error(`needs ${what}`);
  return value;
}
