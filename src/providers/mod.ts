/**
 * @module
 * Upstream LLM providers behind one interface, and the typed registry that builds them.
 */
export { AnthropicProvider, type AnthropicProviderOptions } from "./anthropic.ts";
export {
  AZURE_DEFAULT_API_VERSION,
  type AzureProviderOptions,
  createAzureProvider,
} from "./azure.ts";
export { classifyStatus, classifyThrown, UpstreamError } from "./errors.ts";
export { GeminiProvider, type GeminiProviderOptions, type VertexSettings } from "./gemini.ts";
export {
  MOCK_EMBEDDING_DIMENSIONS,
  MOCK_EMBEDDING_MAX_DIMENSIONS,
  MockProvider,
  type MockProviderOptions,
} from "./mock.ts";
export { createHttp1Fetch, type Http1Client, type Http1FetchOptions } from "./http1.ts";
export { OpenAIProvider, type OpenAIProviderOptions, type UpstreamFetch } from "./openai.ts";
export {
  chatOperation,
  completionOperation,
  embeddingOperation,
  type ProviderOperation,
} from "./operations.ts";
export { type SseEvent, SseSplitter } from "./sse.ts";
export { chatUsageOf } from "./responses_stream.ts";
export { createPresetProvider, OPENAI_PRESETS, type OpenAIPreset } from "./presets.ts";
export {
  PRESET_KEY_VARIABLES,
  type ProviderFactory,
  PROVIDERS,
  type ProviderSettings,
} from "./registry.ts";
export type {
  JsonResult,
  MessagesInput,
  Provider,
  ProviderResult,
  StreamOutcome,
  StreamResult,
  UpstreamCall,
} from "./types.ts";
