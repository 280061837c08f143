// What the translations of a whole upstream answer into OpenAI's `chat.completion` share.
import type { ChatCompletion } from "../core/mod.ts";

/** An OpenAI tool call, as a completion's message holds it. */
export interface OpenAIToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** OpenAI's tool call for an upstream's call of `name` with `input`, its arguments as JSON. */
export function toolCall(id: unknown, name: unknown, input: unknown): OpenAIToolCall {
  return {
    id: String(id),
    type: "function",
    function: { name: String(name), arguments: JSON.stringify(input ?? {}) },
  };
}

/** A choice's message: the text (null when there is none), and the tool calls when any. */
export function assistantMessage(
  text: string | null,
  toolCalls: OpenAIToolCall[],
): ChatCompletion["choices"][0]["message"] {
  const message: ChatCompletion["choices"][0]["message"] = { role: "assistant", content: text };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}
