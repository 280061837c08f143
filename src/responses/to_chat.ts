import type { ChatCompletionRequest, ChatMessage } from "../core/mod.ts";
import type { ContentPart, InputItem, ResponsesRequest } from "./schema.ts";

/** One chat tool call of an assistant message. */
interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** The input items of a request as a list: a bare string is one user message. */
export function inputItemsOf(input: ResponsesRequest["input"]): InputItem[] {
  return typeof input === "string" ? [{ type: "message", role: "user", content: input }] : input;
}

/**
 * The chat completions request that asks a chat-only upstream what `request` asks: `history`
 * (the stored conversation of `previous_response_id`) and the request's input as messages,
 * `instructions` as the system message, tools, limits and formats in chat's terms. A stream asks
 * for usage, which the Responses events carry at the end.
 */
export function toChatRequest(
  request: ResponsesRequest,
  history: readonly InputItem[] = [],
): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (request.instructions) messages.push({ role: "system", content: request.instructions });
  for (const item of [...history, ...inputItemsOf(request.input)]) appendItem(messages, item);
  const chat: ChatCompletionRequest = { model: request.model, messages };
  if (request.stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  if (request.max_output_tokens != null) chat.max_completion_tokens = request.max_output_tokens;
  if (request.temperature != null) chat.temperature = request.temperature;
  if (request.top_p != null) chat.top_p = request.top_p;
  if (request.user !== undefined) chat.user = request.user;
  if (request.tools?.length) {
    chat.tools = request.tools.map((tool) => ({
      type: "function",
      function: definedFields({
        name: tool.name,
        description: tool.description ?? undefined,
        parameters: tool.parameters ?? undefined,
        strict: tool.strict ?? undefined,
      }),
    }));
  }
  if (request.tool_choice != null) {
    chat.tool_choice = typeof request.tool_choice === "string"
      ? request.tool_choice
      : { type: "function", function: { name: request.tool_choice.name } };
  }
  if (request.parallel_tool_calls != null) chat.parallel_tool_calls = request.parallel_tool_calls;
  const format = request.text?.format;
  if (format?.type === "json_object") chat.response_format = { type: "json_object" };
  if (format?.type === "json_schema") {
    chat.response_format = {
      type: "json_schema",
      json_schema: definedFields({
        name: format.name,
        schema: format.schema,
        description: format.description ?? undefined,
        strict: format.strict ?? undefined,
      }),
    };
  }
  if (request.reasoning?.effort) chat.reasoning_effort = request.reasoning.effort;
  return chat;
}

function appendItem(messages: ChatMessage[], item: InputItem): void {
  switch (item.type) {
    case "message":
      messages.push(
        item.role === "assistant"
          ? { role: "assistant", content: assistantText(item.content) }
          : { role: item.role, content: userContent(item.content) },
      );
      return;
    case "function_call": {
      const call: ChatToolCall = {
        id: item.call_id,
        type: "function",
        function: { name: item.name, arguments: item.arguments },
      };
      // Chat wants the calls of one turn on one assistant message, before their results.
      const last = messages.at(-1);
      if (last?.role === "assistant") {
        last.tool_calls = [...(Array.isArray(last.tool_calls) ? last.tool_calls : []), call];
      } else {
        messages.push({ role: "assistant", content: null, tool_calls: [call] });
      }
      return;
    }
    case "function_call_output":
      messages.push({
        role: "tool",
        tool_call_id: item.call_id,
        content: typeof item.output === "string"
          ? item.output
          : item.output.map((part) => part.text).join(""),
      });
      return;
    case "reasoning":
      return;
  }
}

function userContent(content: string | ContentPart[]): ChatMessage["content"] {
  if (typeof content === "string") return content;
  return content.map((part) => {
    switch (part.type) {
      case "input_image":
        return {
          type: "image_url",
          image_url: definedFields({ url: part.image_url, detail: part.detail ?? undefined }),
        };
      case "refusal":
        return { type: "text", text: part.refusal };
      default:
        return { type: "text", text: part.text };
    }
  });
}

function assistantText(content: string | ContentPart[]): string {
  if (typeof content === "string") return content;
  return content.map((part) =>
    part.type === "refusal" ? part.refusal : part.type === "input_image" ? "" : part.text
  ).join("");
}

/** `fields` without its undefined entries, so that none goes upstream as an explicit gap. */
function definedFields<T extends Record<string, unknown>>(fields: T): T {
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as T;
}
