import type { ChatMessage } from "./openai.ts";

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
 * The most tokens a chat request can use before its call: its prompt, estimated, plus the most
 * each of its `n` choices may generate (`max_completion_tokens`, `max_tokens`, or the default).
 */
export function worstCaseTokens(
  request: {
    messages: ChatMessage[];
    max_completion_tokens?: number | null;
    max_tokens?: number | null;
    n?: number | null;
  },
  defaultMaxTokens: number,
): { inputTokens: number; outputTokens: number } {
  const completion = request.max_completion_tokens ?? request.max_tokens ?? defaultMaxTokens;
  return {
    inputTokens: estimatePromptTokens(request.messages),
    outputTokens: completion * (request.n ?? 1),
  };
}
