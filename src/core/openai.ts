import { z } from "zod";

const contentPart = z.object({ type: z.string() }).passthrough();

/**
 * The largest value OpenAI accepts for its integer parameters (`max_tokens`, token ids): a signed
 * 32-bit integer. Bounding them keeps every token count the gateway derives a safe integer.
 */
export const MAX_OPENAI_INTEGER = 2_147_483_647;

// OpenAI's `seed` is a signed 64-bit integer; as a double, its top is 2^63 itself.
const seed = z.number().int().min(-(2 ** 63)).max(2 ** 63);
const tokenLimit = z.number().int().max(MAX_OPENAI_INTEGER);
const tokenId = z.number().int().nonnegative().max(MAX_OPENAI_INTEGER);
const penalty = z.number().min(-2).max(2).nullish();
// Keys are token ids as decimal text, values a bias OpenAI takes from -100 to 100.
const logitBias = z.record(
  z.string().regex(/^\d{1,10}$/, "Expected a token id").refine(
    (key) => Number(key) <= MAX_OPENAI_INTEGER,
    "Expected a token id",
  ),
  z.number().min(-100).max(100),
).nullish();

const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
}).passthrough();

/**
 * The chat completion request as the gateway validates it. Fields it does not know pass through
 * to OpenAI-compatible upstreams untouched, so new OpenAI parameters work without a release.
 */
export const chatCompletionRequestSchema = z.object({
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullish(),
  max_tokens: tokenLimit.positive().nullish(),
  max_completion_tokens: tokenLimit.positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  presence_penalty: penalty,
  frequency_penalty: penalty,
  logit_bias: logitBias,
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  seed: seed.nullish(),
  user: z.string().optional(),
}).passthrough();

/** A validated chat completion request. */
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** One message of a chat completion request. */
export type ChatMessage = z.infer<typeof message>;

/** Token usage as OpenAI reports it. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** OpenAI's breakdown of the prompt: `cached_tokens` of it were read from the cache. */
  prompt_tokens_details?: { cached_tokens?: number | null; [key: string]: unknown } | null;
  /**
   * Prompt tokens written to a prompt cache (Anthropic's count, named as LiteLLM names it): they
   * are part of `prompt_tokens`, priced apart. OpenAI has no such count.
   */
  cache_creation_input_tokens?: number | null;
}

/** A non-streamed chat completion, as far as the gateway reads it. */
export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: "assistant"; content: string | null; [key: string]: unknown };
    finish_reason: string | null;
    [key: string]: unknown;
  }>;
  usage?: Usage;
  [key: string]: unknown;
}

/** One `chat.completion.chunk` of a stream, as far as the gateway reads it. */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: "assistant"; content?: string | null; [key: string]: unknown };
    finish_reason: string | null;
    [key: string]: unknown;
  }>;
  usage?: Usage | null;
  [key: string]: unknown;
}

/** One entry of `GET /v1/models`. */
export interface ModelInfo {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/** Largest number of inputs or prompts one request may carry, as OpenAI allows. */
const MAX_BATCH = 2048;

const tokenArray = z.array(tokenId).min(1);

/**
 * The embeddings request: one text, several, or the same as token arrays. Unknown fields pass
 * through like the chat request's.
 */
export const embeddingRequestSchema = z.object({
  model: z.string().min(1).max(256),
  input: z.union([
    z.string().min(1),
    z.array(z.string().min(1)).min(1).max(MAX_BATCH),
    tokenArray,
    z.array(tokenArray).min(1).max(MAX_BATCH),
  ]),
  encoding_format: z.enum(["float", "base64"]).optional(),
  dimensions: z.number().int().min(1).max(65_536).optional(),
  user: z.string().optional(),
}).passthrough();

/** A validated embeddings request. */
export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;

/**
 * The legacy completions request. A prompt is a text, several texts, or the same as token arrays;
 * each prompt gets `n` choices. Unknown fields pass through like the chat request's.
 */
export const completionRequestSchema = z.object({
  model: z.string().min(1).max(256),
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_BATCH),
    tokenArray,
    z.array(tokenArray).min(1).max(MAX_BATCH),
  ]),
  // Zero is allowed: with `echo` it scores a prompt without generating anything.
  max_tokens: tokenLimit.nonnegative().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  best_of: z.number().int().min(0).max(20).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullish(),
  echo: z.boolean().nullish(),
  logprobs: z.number().int().min(0).max(5).nullish(),
  suffix: z.string().nullish(),
  seed: seed.nullish(),
  presence_penalty: penalty,
  frequency_penalty: penalty,
  logit_bias: logitBias,
  user: z.string().optional(),
}).passthrough();

/** A validated legacy completions request. */
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** Token usage of an embeddings answer: input only. */
export interface EmbeddingUsage {
  prompt_tokens: number;
  total_tokens: number;
}

/** An embeddings answer, as far as the gateway reads it. */
export interface EmbeddingResponse {
  object: "list";
  data: Array<{
    object: "embedding";
    index: number;
    /** Floats, or base64 of little-endian float32s when `encoding_format` is `base64`. */
    embedding: number[] | string;
    [key: string]: unknown;
  }>;
  model: string;
  usage?: EmbeddingUsage;
  [key: string]: unknown;
}

/** A legacy completion, whole or one chunk of a stream, as far as the gateway reads it. */
export interface Completion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    text: string;
    finish_reason: string | null;
    logprobs: unknown;
    [key: string]: unknown;
  }>;
  usage?: Usage | null;
  [key: string]: unknown;
}
