import type { ChatCompletionRequest, ChatMessage } from "../core/mod.ts";
import type {
  BedrockContentBlock,
  BedrockImageFormat,
  BedrockMessage,
  BedrockRequest,
  BedrockToolChoice,
} from "./_bedrock_api.ts";
import {
  appendTurn,
  functionTool,
  imageInput,
  isRecord,
  refusal,
  textParts,
  toolCallInput,
  toolChoiceName,
  type Turn,
} from "./_chat_input.ts";

/** Fields translated below, or checked and accepted when they ask nothing Converse lacks. */
const HANDLED = new Set([
  "model",
  "messages",
  "stream",
  "stream_options",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "stop",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "n",
  "logprobs",
  "top_logprobs",
  "response_format",
  "logit_bias",
  "modalities",
]);

/**
 * Fields dropped because ignoring them changes no guarantee the client relies on: penalties and
 * the seed only tune sampling (Converse has neither), `user`, `store` and `metadata` are for
 * OpenAI's own abuse tracking and stored completions.
 */
const DROPPED = new Set([
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "user",
  "store",
  "metadata",
]);

const IMAGE_FORMATS: Readonly<Record<string, BedrockImageFormat>> = {
  "image/png": "png",
  "image/jpeg": "jpeg",
  "image/gif": "gif",
  "image/webp": "webp",
};

/**
 * Translates an OpenAI chat request into the body of Bedrock's Converse (or ConverseStream, the
 * same body at another path). What Converse cannot honour is refused with the client's 400
 * naming it rather than dropped.
 */
export function toBedrockRequest(request: ChatCompletionRequest): BedrockRequest {
  refuseUnsupported(request);
  const { system, messages } = translateMessages(request.messages);
  const body: BedrockRequest = { messages };
  if (system.length > 0) body.system = system.map((text) => ({ text }));
  const inference: NonNullable<BedrockRequest["inferenceConfig"]> = {};
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) inference.maxTokens = maxTokens;
  if (request.temperature != null) inference.temperature = request.temperature;
  if (request.top_p != null) inference.topP = request.top_p;
  const stop = typeof request.stop === "string" ? [request.stop] : request.stop;
  if (stop && stop.length > 0) inference.stopSequences = stop;
  if (Object.keys(inference).length > 0) body.inferenceConfig = inference;
  const toolConfig = translateTools(request);
  if (toolConfig) body.toolConfig = toolConfig;
  return body;
}

function refuseUnsupported(request: ChatCompletionRequest): void {
  if (request.n != null && request.n > 1) {
    throw refusal("Bedrock's Converse API returns one choice: 'n' must be 1");
  }
  if (
    request.logprobs === true ||
    (typeof request.top_logprobs === "number" && request.top_logprobs > 0)
  ) {
    throw refusal(
      "Bedrock's Converse API returns no log probabilities: 'logprobs' is not supported",
    );
  }
  const format = request.response_format;
  if (format != null && !(isRecord(format) && format.type === "text")) {
    throw refusal("Bedrock's Converse API does not support 'response_format' other than 'text'");
  }
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) {
    throw refusal("Bedrock's Converse API does not support 'logit_bias'");
  }
  const modalities = request.modalities;
  if (modalities != null && !(Array.isArray(modalities) && modalities.every((m) => m === "text"))) {
    throw refusal("Bedrock models answer in text only here: 'modalities' must be ['text']");
  }
  if (request.parallel_tool_calls === false) {
    throw refusal(
      "Bedrock's Converse API cannot forbid parallel tool calls: 'parallel_tool_calls'",
    );
  }
  for (const [key, value] of Object.entries(request)) {
    if (value == null || HANDLED.has(key) || DROPPED.has(key)) continue;
    throw refusal(`Bedrock's Converse API does not support the parameter '${key}'`);
  }
}

/**
 * System and developer messages become `system` blocks (wherever they stood); tool results
 * become user turns; consecutive turns of one role are merged, since Converse requires the roles
 * to alternate.
 */
function translateMessages(
  input: ChatMessage[],
): { system: string[]; messages: BedrockMessage[] } {
  const system: string[] = [];
  const turns: Array<Turn<BedrockContentBlock>> = [];
  input.forEach((message, index) => {
    const where = `messages[${index}]`;
    if (message.role === "system" || message.role === "developer") {
      const text = textParts(message.content, where, "system messages").join("\n");
      if (text.length > 0) system.push(text);
      return;
    }
    const turn = translateMessage(message, where);
    if (turn.blocks.length === 0) throw refusal(`${where} has no content`);
    appendTurn(turns, turn);
  });
  if (turns.length === 0) throw refusal("Bedrock needs at least one user or assistant message");
  return { system, messages: turns.map(({ role, blocks }) => ({ role, content: blocks })) };
}

function translateMessage(message: ChatMessage, where: string): Turn<BedrockContentBlock> {
  switch (message.role) {
    case "user":
      return { role: "user", blocks: userBlocks(message.content, where) };
    case "assistant":
      return { role: "assistant", blocks: assistantBlocks(message, where) };
    case "tool":
      return { role: "user", blocks: [toolResult(message, where)] };
    default:
      throw refusal(`${where}: the role '${message.role}' is not supported; use tools and 'tool'`);
  }
}

function userBlocks(content: ChatMessage["content"], where: string): BedrockContentBlock[] {
  if (content == null) return [];
  if (typeof content === "string") return content ? [{ text: content }] : [];
  return content.flatMap((part, index): BedrockContentBlock[] => {
    const at = `${where}.content[${index}]`;
    if (part.type === "text") return textBlock(part.text, at);
    if (part.type === "image_url") return [imageBlock(part, at)];
    throw refusal(`${at}: content parts of type '${part.type}' are not supported by Bedrock`);
  });
}

function assistantBlocks(message: ChatMessage, where: string): BedrockContentBlock[] {
  const blocks: BedrockContentBlock[] = [];
  const content = message.content;
  if (typeof content === "string") blocks.push(...textBlock(content, `${where}.content`));
  else if (content) {
    content.forEach((part, index) => {
      const at = `${where}.content[${index}]`;
      if (part.type === "text") blocks.push(...textBlock(part.text, at));
      else if (part.type === "refusal") blocks.push(...textBlock(part.refusal, at));
      else throw refusal(`${at}: assistant content of type '${part.type}' is not supported`);
    });
  }
  const toolCalls = message.tool_calls;
  if (toolCalls == null) return blocks;
  if (!Array.isArray(toolCalls)) throw refusal(`${where}.tool_calls must be an array`);
  toolCalls.forEach((toolCall, index) => {
    const { id, name, input } = toolCallInput(toolCall, `${where}.tool_calls[${index}]`);
    blocks.push({ toolUse: { toolUseId: id, name, input } });
  });
  return blocks;
}

function toolResult(message: ChatMessage, where: string): BedrockContentBlock {
  const id = message.tool_call_id;
  if (typeof id !== "string" || id === "") throw refusal(`${where} needs a 'tool_call_id'`);
  const texts = textParts(message.content, where, "tool results");
  return {
    toolResult: {
      toolUseId: id,
      // Converse wants at least one block: an empty result is an empty text.
      content: (texts.length > 0 ? texts : [""]).map((text) => ({ text })),
    },
  };
}

/** A text block, or none for empty text: Converse rejects blank text blocks. */
function textBlock(text: unknown, where: string): BedrockContentBlock[] {
  if (typeof text !== "string") throw refusal(`${where}: 'text' must be a string`);
  return text ? [{ text }] : [];
}

function imageBlock(part: Record<string, unknown>, where: string): BedrockContentBlock {
  const image = imageInput(part, where);
  if (image.kind === "url") {
    throw refusal(`${where}: Bedrock takes images as base64 data URLs, not links`);
  }
  const format = IMAGE_FORMATS[image.mediaType];
  if (format === undefined) {
    throw refusal(
      `${where}: Bedrock accepts PNG, JPEG, GIF and WebP images, not ${image.mediaType}`,
    );
  }
  return { image: { format, source: { bytes: image.data } } };
}

function translateTools(request: ChatCompletionRequest): BedrockRequest["toolConfig"] {
  const tools = request.tools;
  if (tools != null && !Array.isArray(tools)) throw refusal("'tools' must be an array");
  const choice = request.tool_choice;
  if (!tools || tools.length === 0) {
    if (choice == null || choice === "auto" || choice === "none") return undefined;
    throw refusal("'tool_choice' asks for a tool call but the request has no 'tools'");
  }
  const translated = tools.map((tool: unknown, index: number) => {
    const { name, description, parameters } = functionTool(tool, index, "Bedrock");
    return {
      toolSpec: {
        name,
        ...(description === undefined ? {} : { description }),
        inputSchema: { json: parameters },
      },
    };
  });
  const toolChoice = translateToolChoice(choice);
  return toolChoice ? { tools: translated, toolChoice } : { tools: translated };
}

function translateToolChoice(choice: unknown): BedrockToolChoice | undefined {
  if (choice == null) return undefined;
  if (choice === "auto") return { auto: {} };
  if (choice === "required") return { any: {} };
  const name = toolChoiceName(choice);
  if (name !== undefined) return { tool: { name } };
  if (choice === "none") {
    throw refusal(
      "Bedrock's Converse API has no 'tool_choice' of 'none': leave the 'tools' out instead",
    );
  }
  throw refusal(
    "'tool_choice' must be 'auto', 'required' or a function; other kinds are not supported",
  );
}
