import {
  badRequest,
  type ChatCompletionRequest,
  type ChatMessage,
  type MessagesContentBlock,
  type MessagesImageBlock,
  type MessagesMessage,
  type MessagesRequest,
  type MessagesTextBlock,
  type MessagesTool,
} from "../core/mod.ts";

type Block<T extends string> = Extract<MessagesContentBlock, { type: T }>;
type ContentPart = Record<string, unknown> & { type: string };
type ToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };

/**
 * Translates a Messages request into the chat completion request an OpenAI-format upstream
 * takes. Rules where the formats differ, all of them documented in the README:
 * - `system` becomes the first message (text blocks joined by a blank line);
 * - a user turn's `tool_result` blocks become `tool` messages, ahead of the rest of the turn;
 * - an assistant turn's `tool_use` blocks become `tool_calls`, its text blocks its content;
 * - thinking blocks of earlier turns, `cache_control`, `top_k` and `thinking` are dropped (chat
 *   has no field for them; an upstream that reasons says so in its answer);
 * - what chat cannot carry at all (server tools, documents, images by file id) is the client's
 *   400, naming the field, rather than silently lost.
 */
export function messagesToChat(request: MessagesRequest): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  const system = systemText(request.system);
  if (system !== undefined) messages.push({ role: "system", content: system });
  request.messages.forEach((message, index) => {
    messages.push(...translateMessage(message, `messages.${index}`));
  });
  const chat: ChatCompletionRequest = {
    model: request.model,
    messages,
    max_tokens: request.max_tokens,
  };
  if (request.temperature !== undefined) chat.temperature = request.temperature;
  if (request.top_p !== undefined) chat.top_p = request.top_p;
  if (request.stop_sequences && request.stop_sequences.length > 0) {
    chat.stop = request.stop_sequences;
  }
  const user = request.metadata?.user_id;
  if (user) chat.user = user;
  if (request.tools && request.tools.length > 0) {
    chat.tools = request.tools.map((tool, index) => translateTool(tool, `tools.${index}`));
    Object.assign(chat, translateToolChoice(request.tool_choice));
  }
  if (request.stream) {
    chat.stream = true;
    // The usage closes the Anthropic stream's `message_delta`, and bills it.
    chat.stream_options = { include_usage: true };
  }
  return chat;
}

function systemText(system: MessagesRequest["system"]): string | undefined {
  if (system === undefined) return undefined;
  if (typeof system === "string") return system === "" ? undefined : system;
  return system.length === 0 ? undefined : system.map((block) => block.text).join("\n\n");
}

function translateMessage(message: MessagesMessage, path: string): ChatMessage[] {
  if (typeof message.content === "string") {
    return [{ role: message.role, content: message.content }];
  }
  return message.role === "assistant"
    ? [assistantMessage(message.content, path)]
    : userMessages(message.content, path);
}

function assistantMessage(blocks: MessagesContentBlock[], path: string): ChatMessage {
  const texts: string[] = [];
  const toolCalls: ToolCall[] = [];
  blocks.forEach((block, index) => {
    switch (block.type) {
      case "text":
        texts.push((block as MessagesTextBlock).text);
        break;
      case "tool_use": {
        const use = block as Block<"tool_use">;
        toolCalls.push({
          id: use.id,
          type: "function",
          function: { name: use.name, arguments: JSON.stringify(use.input) },
        });
        break;
      }
      case "thinking":
      case "redacted_thinking":
        break;
      default:
        throw untranslatable(`${path}.content.${index}`, block.type);
    }
  });
  const message: ChatMessage = {
    role: "assistant",
    content: texts.length > 0 ? texts.join("") : null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

function userMessages(blocks: MessagesContentBlock[], path: string): ChatMessage[] {
  const toolMessages: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  blocks.forEach((block, index) => {
    const where = `${path}.content.${index}`;
    switch (block.type) {
      case "text":
        parts.push({ type: "text", text: (block as MessagesTextBlock).text });
        break;
      case "image":
        parts.push(imagePart(block as MessagesImageBlock, where));
        break;
      case "tool_result": {
        const result = block as Block<"tool_result">;
        const { text, images } = toolResultContent(result, where);
        toolMessages.push({ role: "tool", tool_call_id: result.tool_use_id, content: text });
        // A chat tool message holds text only: its images follow in the user's turn.
        parts.push(...images);
        break;
      }
      default:
        throw untranslatable(where, block.type);
    }
  });
  if (parts.length === 0) return toolMessages;
  const onlyText = parts.every((part) => part.type === "text");
  const content = onlyText ? parts.map((part) => part.text).join("\n\n") : parts;
  return [...toolMessages, { role: "user", content }];
}

function toolResultContent(
  result: Block<"tool_result">,
  path: string,
): { text: string; images: ContentPart[] } {
  const content = result.content ?? "";
  const images: ContentPart[] = [];
  let text: string;
  if (typeof content === "string") {
    text = content;
  } else {
    const texts: string[] = [];
    content.forEach((block, index) => {
      if (block.type === "text") texts.push(block.text);
      else images.push(imagePart(block, `${path}.content.${index}`));
    });
    text = texts.join("\n\n");
  }
  // Chat has no error flag on a tool's answer: the model is told in the text itself.
  if (result.is_error) text = text === "" ? "Error" : `Error: ${text}`;
  return { text, images };
}

function imagePart(block: MessagesImageBlock, path: string): ContentPart {
  const source = block.source;
  switch (source.type) {
    case "base64":
      return {
        type: "image_url",
        image_url: { url: `data:${source.media_type};base64,${source.data}` },
      };
    case "url":
      return { type: "image_url", image_url: { url: source.url } };
    default:
      throw untranslatable(`${path}.source`, `${source.type} image source`);
  }
}

function translateTool(tool: MessagesTool, path: string): Record<string, unknown> {
  if (tool.type !== undefined && tool.type !== "custom") {
    throw untranslatable(`${path}.type`, `server tool '${tool.type}'`);
  }
  const fn: Record<string, unknown> = { name: tool.name, parameters: tool.input_schema };
  if (tool.description !== undefined) fn.description = tool.description;
  return { type: "function", function: fn };
}

function translateToolChoice(choice: MessagesRequest["tool_choice"]): Record<string, unknown> {
  if (choice === undefined) return {};
  const translated: Record<string, unknown> = {};
  switch (choice.type) {
    case "auto":
      translated.tool_choice = "auto";
      break;
    case "any":
      translated.tool_choice = "required";
      break;
    case "tool":
      translated.tool_choice = { type: "function", function: { name: choice.name } };
      break;
    case "none":
      translated.tool_choice = "none";
      return translated;
  }
  if (choice.disable_parallel_tool_use) translated.parallel_tool_calls = false;
  return translated;
}

function untranslatable(param: string, what: string) {
  return badRequest(
    `Invalid request body at '${param}': ${what} cannot be sent to this model, whose upstream speaks OpenAI's chat format`,
    "unsupported_content",
    param,
  );
}
