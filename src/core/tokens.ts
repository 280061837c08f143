import type { ChatMessage } from "./openai.ts";

/** The largest rate limit a key or tenant may have, in requests or tokens per minute. */
export const MAX_LIMIT_PER_MINUTE = 1_000_000_000;

/** A rough token count: about four characters a token, as OpenAI's guidance puts it. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

/** The text of a message, its parts joined when it has several. */
export function messageText(message: ChatMessage): string {
  if (typeof message.content === "string") return message.content;
  if (!Array.isArray(message.content)) return "";
  return message.content.map((part) => typeof part.text === "string" ? part.text : "").join(" ");
}

/** A rough prompt token count, with OpenAI's overhead of a few tokens per message. */
export function estimatePromptTokens(messages: ChatMessage[]): number {
  return messages.reduce((sum, message) => sum + 4 + estimateTokens(messageText(message)), 3);
}

/**
 * What a request may use, known before its call: the basis of its quota reservation and of the
 * token limits' estimate, and of its bill when the upstream reports no usage.
 */
export interface RequestEstimate {
  /** The model the client asked for, which prices the request. */
  model: string;
  /** The prompt's tokens, estimated. */
  inputTokens: number;
  /** The most the answer may generate: every choice's limit together (0 for embeddings). */
  outputTokens: number;
  /**
   * The request's parameter that makes its worst case this large, to name in the 400 when that
   * costs more than the gateway can count.
   */
  param: string;
}

/**
 * A chat request's worst case: its prompt, estimated, plus the most each of its `n` choices may
 * generate (`max_completion_tokens`, `max_tokens`, or the default).
 */
export function chatEstimate(
  request: {
    model: string;
    messages: ChatMessage[];
    max_completion_tokens?: number | null;
    max_tokens?: number | null;
    n?: number | null;
  },
  defaultMaxTokens: number,
): RequestEstimate {
  const completion = request.max_completion_tokens ?? request.max_tokens ?? defaultMaxTokens;
  const lengthParam = request.max_completion_tokens != null
    ? "max_completion_tokens"
    : request.max_tokens != null
    ? "max_tokens"
    : undefined;
  return {
    model: request.model,
    inputTokens: estimatePromptTokens(request.messages),
    outputTokens: completion * (request.n ?? 1),
    param: lengthParam ?? ((request.n ?? 1) > 1 ? "n" : "max_tokens"),
  };
}

/**
 * A legacy completions request's worst case: its prompts, estimated, plus `max_tokens` (or the
 * default) for each of the `max(n, best_of)` choices the upstream generates per prompt (`best_of`
 * choices are all generated, and billed, though only `n` come back).
 */
export function completionEstimate(
  request: {
    model: string;
    prompt: TextOrTokens;
    max_tokens?: number | null;
    n?: number | null;
    best_of?: number | null;
  },
  defaultMaxTokens: number,
): RequestEstimate {
  const prompts = textsOrTokens(request.prompt);
  const n = request.n ?? 1;
  const choices = Math.max(n, request.best_of ?? 1);
  const choicesParam = choices === 1 ? "prompt" : choices > n ? "best_of" : "n";
  return {
    model: request.model,
    inputTokens: prompts.reduce((sum, prompt) => sum + inputTokens(prompt), 0),
    outputTokens: (request.max_tokens ?? defaultMaxTokens) * choices * prompts.length,
    // The length the client set is the likeliest to lower; else the choices, else the prompts.
    param: request.max_tokens != null ? "max_tokens" : choicesParam,
  };
}

/** An embeddings request's cost: its inputs, estimated; it generates nothing. */
export function embeddingEstimate(
  request: { model: string; input: TextOrTokens },
): RequestEstimate {
  const inputs = textsOrTokens(request.input);
  return {
    model: request.model,
    inputTokens: inputs.reduce((sum, input) => sum + inputTokens(input), 0),
    outputTokens: 0,
    param: "input",
  };
}

/** The input of an embeddings or legacy completions request: texts or token arrays, one or many. */
export type TextOrTokens = string | string[] | number[] | number[][];

/** The separate inputs of a request: each a text or an array of token ids. */
export function textsOrTokens(input: TextOrTokens): Array<string | number[]> {
  if (typeof input === "string") return [input];
  // An array is a batch when its items are texts or arrays; an array of numbers is one input.
  if (input.length > 0 && typeof input[0] === "number") return [input as number[]];
  return input as Array<string | number[]>;
}

function inputTokens(input: string | number[]): number {
  return typeof input === "string" ? estimateTokens(input) : input.length;
}
