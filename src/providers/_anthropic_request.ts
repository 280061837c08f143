import {
  badRequest,
  type ChatCompletionRequest,
  type ChatMessage,
  type HttpError,
} from "../core/mod.ts";
import type {
  AnthropicImageSource,
  AnthropicMessage,
  AnthropicRequest,
  AnthropicRequestBlock,
  AnthropicTool,
  AnthropicToolChoice,
} from "./_anthropic_api.ts";

/** What the translation needs besides the request. */
export interface AnthropicRequestOptions {
  /** Anthropic's name for the model. */
  upstreamModel: string;
  /** `max_tokens` when the client set none: Anthropic requires one. */
  defaultMaxTokens: number;
}

/** Fields translated below, or checked and accepted when they ask nothing Anthropic lacks. */
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
  "user",
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
 * the seed only tune sampling (Anthropic has neither), `store` and `metadata` are for OpenAI's
 * own stored completions.
 */
const DROPPED = new Set(["presence_penalty", "frequency_penalty", "seed", "store", "metadata"]);

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

/**
 * Translates an OpenAI chat request into the body of Anthropic's `POST /v1/messages`. What
 * Anthropic cannot honour is refused with a `client_error` (the client gets a 400 naming it)
 * rather than dropped; `temperature` above 1 is clamped to Anthropic's maximum of 1.
 */
export function toAnthropicRequest(
  request: ChatCompletionRequest,
  options: AnthropicRequestOptions,
): AnthropicRequest {
  refuseUnsupported(request);
  const { system, messages } = translateMessages(request.messages);
  const body: AnthropicRequest = {
    model: options.upstreamModel,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? options.defaultMaxTokens,
    messages,
  };
  if (system !== undefined) body.system = system;
  if (request.temperature != null) body.temperature = Math.min(request.temperature, 1);
  if (request.top_p != null) body.top_p = request.top_p;
  const stop = typeof request.stop === "string" ? [request.stop] : request.stop;
  if (stop && stop.length > 0) body.stop_sequences = stop;
  if (request.user) body.metadata = { user_id: request.user };
  Object.assign(body, translateTools(request));
  if (request.stream) body.stream = true;
  return body;
}

/** The error for a request Anthropic cannot serve as asked: the client's 400, before any call. */
export function refusal(message: string): HttpError {
  return badRequest(message, "unsupported_parameter");
}

function refuseUnsupported(request: ChatCompletionRequest): void {
  if (request.n != null && request.n > 1) {
    throw refusal("Anthropic models return one choice: 'n' must be 1");
  }
  if (
    request.logprobs === true ||
    (typeof request.top_logprobs === "number" && request.top_logprobs > 0)
  ) {
    throw refusal("Anthropic models do not return log probabilities: 'logprobs' is not supported");
  }
  const format = request.response_format;
  if (format != null && !(isRecord(format) && format.type === "text")) {
    throw refusal("Anthropic models do not support 'response_format' other than 'text'");
  }
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) {
    throw refusal("Anthropic models do not support 'logit_bias'");
  }
  const modalities = request.modalities;
  if (modalities != null && !(Array.isArray(modalities) && modalities.every((m) => m === "text"))) {
    throw refusal("Anthropic models answer in text only: 'modalities' must be ['text']");
  }
  for (const [key, value] of Object.entries(request)) {
    if (value == null || HANDLED.has(key) || DROPPED.has(key)) continue;
    throw refusal(`Anthropic models do not support the parameter '${key}'`);
  }
}

interface Turn {
  role: "user" | "assistant";
  blocks: AnthropicRequestBlock[];
}

/**
 * System and developer messages become the top-level `system` (joined by blank lines, wherever
 * they stood); tool results become user turns; consecutive turns of one role are merged, since
 * Anthropic requires the roles to alternate.
 */
function translateMessages(
  input: ChatMessage[],
): { system: string | undefined; messages: AnthropicMessage[] } {
  const system: string[] = [];
  const turns: Turn[] = [];
  input.forEach((message, index) => {
    const where = `messages[${index}]`;
    if (message.role === "system" || message.role === "developer") {
      const text = textOnly(message.content, where);
      if (text.length > 0) system.push(text);
      return;
    }
    const turn = translateMessage(message, where);
    if (turn.blocks.length === 0) throw refusal(`${where} has no content`);
    const last = turns.at(-1);
    if (last?.role === turn.role) last.blocks.push(...turn.blocks);
    else turns.push(turn);
  });
  if (turns.length === 0) throw refusal("Anthropic needs at least one user or assistant message");
  const messages = turns.map(({ role, blocks }): AnthropicMessage => {
    const only = blocks.length === 1 ? blocks[0] : undefined;
    return { role, content: only?.type === "text" ? only.text : blocks };
  });
  return { system: system.length > 0 ? system.join("\n\n") : undefined, messages };
}

function translateMessage(message: ChatMessage, where: string): Turn {
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

function userBlocks(content: ChatMessage["content"], where: string): AnthropicRequestBlock[] {
  if (content == null) return [];
  if (typeof content === "string") return content ? [{ type: "text", text: content }] : [];
  return content.flatMap((part, index): AnthropicRequestBlock[] => {
    const at = `${where}.content[${index}]`;
    if (part.type === "text") return textBlock(part.text, at);
    if (part.type === "image_url") return [{ type: "image", source: imageSource(part, at) }];
    throw refusal(`${at}: content parts of type '${part.type}' are not supported by Anthropic`);
  });
}

function assistantBlocks(message: ChatMessage, where: string): AnthropicRequestBlock[] {
  const blocks: AnthropicRequestBlock[] = [];
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
  toolCalls.forEach((toolCall, index) =>
    blocks.push(toolUse(toolCall, `${where}.tool_calls[${index}]`))
  );
  return blocks;
}

function toolUse(toolCall: unknown, where: string): AnthropicRequestBlock {
  const fn = isRecord(toolCall) ? toolCall.function : undefined;
  if (
    !isRecord(toolCall) || toolCall.type !== "function" || typeof toolCall.id !== "string" ||
    !isRecord(fn) || typeof fn.name !== "string"
  ) {
    throw refusal(`${where} must be a function call with an 'id' and a 'function.name'`);
  }
  const args = fn.arguments ?? "";
  if (typeof args !== "string") throw refusal(`${where}.function.arguments must be a string`);
  let input: unknown = {};
  if (args.trim() !== "") {
    try {
      input = JSON.parse(args);
    } catch {
      throw refusal(`${where}.function.arguments is not valid JSON`);
    }
  }
  if (!isRecord(input)) throw refusal(`${where}.function.arguments must be a JSON object`);
  return { type: "tool_use", id: toolCall.id, name: fn.name, input };
}

function toolResult(message: ChatMessage, where: string): AnthropicRequestBlock {
  const id = message.tool_call_id;
  if (typeof id !== "string" || id === "") throw refusal(`${where} needs a 'tool_call_id'`);
  const content = message.content;
  if (content == null || typeof content === "string") {
    return { type: "tool_result", tool_use_id: id, content: content ?? "" };
  }
  const parts = content.map((part, index) => {
    const at = `${where}.content[${index}]`;
    if (part.type !== "text" || typeof part.text !== "string") {
      throw refusal(`${at}: tool results may hold text parts only`);
    }
    return { type: "text" as const, text: part.text };
  });
  return { type: "tool_result", tool_use_id: id, content: parts };
}

/** A text block, or none for empty text: Anthropic rejects empty text blocks. */
function textBlock(text: unknown, where: string): AnthropicRequestBlock[] {
  if (typeof text !== "string") throw refusal(`${where}: 'text' must be a string`);
  return text ? [{ type: "text", text }] : [];
}

/** The text of a system message: a string or text parts. */
function textOnly(content: ChatMessage["content"], where: string): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content.map((part, index) => {
    const at = `${where}.content[${index}]`;
    if (part.type !== "text" || typeof part.text !== "string") {
      throw refusal(`${at}: system messages may hold text parts only`);
    }
    return part.text;
  }).join("\n");
}

function imageSource(part: Record<string, unknown>, where: string): AnthropicImageSource {
  const image = part.image_url;
  const url = isRecord(image) ? image.url : image;
  if (typeof url !== "string") throw refusal(`${where}.image_url.url must be a string`);
  if (url.startsWith("data:")) {
    const match = /^data:([^;,]+);base64,(.+)$/s.exec(url);
    if (!match) throw refusal(`${where}: an image data URL must be base64-encoded`);
    const mediaType = match[1].toLowerCase();
    if (!IMAGE_TYPES.has(mediaType)) {
      throw refusal(`${where}: Anthropic accepts JPEG, PNG, GIF and WebP images, not ${mediaType}`);
    }
    return { type: "base64", media_type: mediaType, data: match[2] };
  }
  if (/^https?:\/\//i.test(url)) return { type: "url", url };
  throw refusal(`${where}: an image must be an http(s) URL or a base64 data URL`);
}

function translateTools(
  request: ChatCompletionRequest,
): { tools?: AnthropicTool[]; tool_choice?: AnthropicToolChoice } {
  const tools = request.tools;
  if (tools != null && !Array.isArray(tools)) throw refusal("'tools' must be an array");
  const choice = request.tool_choice;
  if (!tools || tools.length === 0) {
    if (choice == null || choice === "auto" || choice === "none") return {};
    throw refusal("'tool_choice' asks for a tool call but the request has no 'tools'");
  }
  const translated = tools.map(translateTool);
  const toolChoice = translateToolChoice(choice);
  if (request.parallel_tool_calls === false) {
    const forbidden = toolChoice ?? { type: "auto" };
    if (forbidden.type !== "none") forbidden.disable_parallel_tool_use = true;
    return { tools: translated, tool_choice: forbidden };
  }
  return toolChoice ? { tools: translated, tool_choice: toolChoice } : { tools: translated };
}

function translateTool(tool: unknown, index: number): AnthropicTool {
  const where = `tools[${index}]`;
  const fn = isRecord(tool) ? tool.function : undefined;
  if (!isRecord(tool) || tool.type !== "function" || !isRecord(fn)) {
    throw refusal(`${where}: Anthropic models support tools of type 'function' only`);
  }
  if (typeof fn.name !== "string") throw refusal(`${where}.function.name must be a string`);
  const parameters = fn.parameters ?? { type: "object", properties: {} };
  if (!isRecord(parameters)) throw refusal(`${where}.function.parameters must be an object`);
  const translated: AnthropicTool = { name: fn.name, input_schema: parameters };
  if (typeof fn.description === "string") translated.description = fn.description;
  if (fn.strict === true) translated.strict = true;
  return translated;
}

function translateToolChoice(choice: unknown): AnthropicToolChoice | undefined {
  if (choice == null) return undefined;
  if (choice === "auto") return { type: "auto" };
  if (choice === "none") return { type: "none" };
  if (choice === "required") return { type: "any" };
  if (isRecord(choice) && choice.type === "function" && isRecord(choice.function)) {
    const name = choice.function.name;
    if (typeof name === "string") return { type: "tool", name };
  }
  throw refusal(
    "'tool_choice' must be 'auto', 'none', 'required' or a function; other kinds are not supported",
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
