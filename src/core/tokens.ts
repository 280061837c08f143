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
