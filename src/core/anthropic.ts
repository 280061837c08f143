import { z } from "zod";
import { MAX_OPENAI_INTEGER, type Usage } from "./openai.ts";

// Anthropic's Messages API (`anthropic-version: 2023-06-01`) as the gateway serves it at
// `/v1/messages`. Every object passes unknown fields through, so a field Anthropic adds reaches an
// Anthropic upstream without a release; the checks are those whose failure a client must be told.

const cacheControl = z.object({ type: z.literal("ephemeral") }).passthrough().nullish();

const textBlock = z.object({
  type: z.literal("text"),
  text: z.string(),
  cache_control: cacheControl,
}).passthrough();

const imageSource = z.discriminatedUnion("type", [
  z.object({ type: z.literal("base64"), media_type: z.string().min(1), data: z.string() })
    .passthrough(),
  z.object({ type: z.literal("url"), url: z.string().min(1) }).passthrough(),
  z.object({ type: z.literal("file"), file_id: z.string().min(1) }).passthrough(),
]);

const imageBlock = z.object({
  type: z.literal("image"),
  source: imageSource,
  cache_control: cacheControl,
}).passthrough();

const toolUseBlock = z.object({
  type: z.literal("tool_use"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.unknown()),
  cache_control: cacheControl,
}).passthrough();

const toolResultBlock = z.object({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1),
  content: z.union([z.string(), z.array(z.union([textBlock, imageBlock]))]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
}).passthrough();

const thinkingBlock = z.object({
  type: z.literal("thinking"),
  thinking: z.string(),
  signature: z.string(),
}).passthrough();

const redactedThinkingBlock = z.object({
  type: z.literal("redacted_thinking"),
  data: z.string(),
}).passthrough();

/** Blocks Anthropic takes that the gateway passes on to Anthropic without reading them. */
const OPAQUE_BLOCK_TYPES = [
  "document",
  "search_result",
  "server_tool_use",
  "web_search_tool_result",
  "web_fetch_tool_result",
  "code_execution_tool_result",
  "mcp_tool_use",
  "mcp_tool_result",
  "container_upload",
] as const;

const opaqueBlocks = OPAQUE_BLOCK_TYPES.map((type) =>
  z.object({ type: z.literal(type) }).passthrough()
);

const contentBlock = z.discriminatedUnion("type", [
  textBlock,
  imageBlock,
  toolUseBlock,
  toolResultBlock,
  thinkingBlock,
  redactedThinkingBlock,
  ...opaqueBlocks,
]);

const message = z.object({
  role: z.enum(["user", "assistant"]),
  content: z.union([z.string(), z.array(contentBlock)]),
}).passthrough();

// A tool without a `type` (or `custom`) is the client's own and needs its schema; any other type
// is one of Anthropic's server tools (`web_search_20250305`, `bash_20250124`, ...).
const tool = z.object({
  name: z.string().min(1).max(128),
  type: z.string().optional(),
  description: z.string().optional(),
  input_schema: z.object({ type: z.literal("object") }).passthrough().optional(),
  cache_control: cacheControl,
}).passthrough().superRefine((value, ctx) => {
  if ((value.type === undefined || value.type === "custom") && !value.input_schema) {
    ctx.addIssue({
      code: "custom",
      path: ["input_schema"],
      message: "A custom tool needs an 'input_schema'",
    });
  }
});

const parallel = { disable_parallel_tool_use: z.boolean().optional() };

const toolChoice = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), ...parallel }).passthrough(),
  z.object({ type: z.literal("any"), ...parallel }).passthrough(),
  z.object({ type: z.literal("tool"), name: z.string().min(1), ...parallel }).passthrough(),
  z.object({ type: z.literal("none") }).passthrough(),
]);

const thinking = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("enabled"),
    budget_tokens: z.number().int().min(1024).max(MAX_OPENAI_INTEGER),
  }).passthrough(),
  z.object({ type: z.literal("disabled") }).passthrough(),
]);

const system = z.union([z.string(), z.array(textBlock)]);

const maxTokens = z.number().int().positive().max(MAX_OPENAI_INTEGER);

/** The body of `POST /v1/messages`, validated. */
export const messagesRequestSchema = z.object({
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1),
  max_tokens: maxTokens,
  system: system.optional(),
  metadata: z.object({ user_id: z.string().max(256).nullish() }).passthrough().optional(),
  stop_sequences: z.array(z.string()).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).max(MAX_OPENAI_INTEGER).optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
  thinking: thinking.optional(),
}).passthrough();

/** A validated Messages request. */
export type MessagesRequest = z.infer<typeof messagesRequestSchema>;

/** One content block of a request message. */
export type MessagesContentBlock = z.infer<typeof contentBlock>;

/** One message of a Messages request. */
export type MessagesMessage = z.infer<typeof message>;

/** A text block of a request (in `system`, a message or a tool result). */
export type MessagesTextBlock = z.infer<typeof textBlock>;

/** An image block of a request. */
export type MessagesImageBlock = z.infer<typeof imageBlock>;

/** A tool of a Messages request. */
export type MessagesTool = z.infer<typeof tool>;

/** The body of `POST /v1/messages/count_tokens`: a Messages request without its length. */
export const countTokensRequestSchema = messagesRequestSchema.omit({ stream: true }).extend({
  max_tokens: maxTokens.optional(),
});

/** A validated count_tokens request. */
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;

/** Token counts of a Messages answer; the cache counts are not part of `input_tokens`. */
export interface MessagesUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  [key: string]: unknown;
}

/** A content block of a Messages answer. */
export type MessagesAnswerBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> }
  | { type: string; [key: string]: unknown };

/** Why the model stopped, as Anthropic names it. */
export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "pause_turn"
  | "refusal";

/** A whole answer of `POST /v1/messages`. */
export interface MessagesAnswer {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: MessagesAnswerBlock[];
  stop_reason: StopReason | string | null;
  stop_sequence: string | null;
  usage: MessagesUsage;
  [key: string]: unknown;
}

/** The answer of `POST /v1/messages/count_tokens`. */
export interface CountTokensAnswer {
  input_tokens: number;
}

/** Anthropic's error `type` values. */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "timeout_error"
  | "api_error"
  | "overloaded_error";

/** Anthropic's error body, of a failed call and of a stream's `error` event. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: AnthropicErrorType; message: string };
}

/**
 * Usage in chat's shape for Anthropic's counts: the prompt counts the tokens written to and read
 * from the cache too, and those are told apart as OpenAI (`prompt_tokens_details.cached_tokens`)
 * and LiteLLM (`cache_creation_input_tokens`) tell them.
 */
export function usageFromAnthropic(usage: {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}): Usage {
  const written = count(usage.cache_creation_input_tokens);
  const read = count(usage.cache_read_input_tokens);
  const prompt = count(usage.input_tokens) + written + read;
  const completion = count(usage.output_tokens);
  const converted: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
  if (read > 0) converted.prompt_tokens_details = { cached_tokens: read };
  if (written > 0) converted.cache_creation_input_tokens = written;
  return converted;
}

/** Anthropic's counts for usage in chat's shape: the inverse of {@linkcode usageFromAnthropic}. */
export function usageToAnthropic(usage: Usage): MessagesUsage {
  const read = cachedTokensOf(usage);
  const written = cacheWriteTokensOf(usage);
  return {
    input_tokens: Math.max(0, usage.prompt_tokens - read - written),
    output_tokens: usage.completion_tokens,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: read,
  };
}

/** The prompt tokens a usage says were read from a cache. */
export function cachedTokensOf(usage: Usage): number {
  return count(usage.prompt_tokens_details?.cached_tokens);
}

/** The prompt tokens a usage says were written to a cache. */
export function cacheWriteTokensOf(usage: Usage): number {
  return count(usage.cache_creation_input_tokens);
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : 0;
}
