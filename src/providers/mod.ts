/**
 * @module
 * Upstream LLM providers behind one interface, and the typed registry that builds them.
 */
export { classifyStatus, classifyThrown, UpstreamError } from "./errors.ts";
export { MockProvider, type MockProviderOptions } from "./mock.ts";
export { OpenAIProvider, type OpenAIProviderOptions } from "./openai.ts";
export type { Provider, ProviderResult, StreamOutcome, UpstreamCall } from "./types.ts";
