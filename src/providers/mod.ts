/**
 * @module
 * Upstream LLM providers behind one interface, and the typed registry that builds them.
 */
export { AnthropicProvider, type AnthropicProviderOptions } from "./anthropic.ts";
export { classifyStatus, classifyThrown, UpstreamError } from "./errors.ts";
export { MockProvider, type MockProviderOptions } from "./mock.ts";
export { createHttp1Fetch, type Http1Client, type Http1FetchOptions } from "./http1.ts";
export { OpenAIProvider, type OpenAIProviderOptions, type UpstreamFetch } from "./openai.ts";
export { type ProviderFactory, PROVIDERS, type ProviderSettings } from "./registry.ts";
export type { Provider, ProviderResult, StreamOutcome, UpstreamCall } from "./types.ts";
