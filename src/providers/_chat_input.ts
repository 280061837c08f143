/**
 * @module
 * Reading an OpenAI chat request for upstreams with an API of their own (Anthropic, Bedrock):
 * what every such translation checks the same way, each failure the client's 400 naming the
 * field, before any call.
 */
import {
  badRequest,
  type ChatCompletionRequest,
  type ChatMessage,
  type HttpError,
} from "../core/mod.ts";

/** The error for a request an upstream cannot serve as asked: the client's 400, before any call. */
export function refusal(message: string): HttpError {
  return badRequest(message, "unsupported_parameter");
}

/** True for a plain object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What an upstream does with a request's fields, for {@linkcode refuseUnsupported}. */
export interface FieldSupport {
  /** Its name in errors, e.g. `Anthropic`. */
  upstream: string;
  /** Fields it translates, or checks and accepts when they ask nothing it lacks. */
  handled: ReadonlySet<string>;
  /** Fields left out because ignoring them changes no guarantee the client relies on. */
  dropped: ReadonlySet<string>;
}

/**
 * Refuses what an upstream with one text choice and no log probabilities cannot honour: several
 * choices, log probabilities, a response format, a logit bias, other modalities, and any field
 * it neither handles nor drops.
 */
export function refuseUnsupported(request: ChatCompletionRequest, support: FieldSupport): void {
  const { upstream } = support;
  if (request.n != null && request.n > 1) {
    throw refusal(`${upstream} returns one choice: 'n' must be 1`);
  }
  if (
    request.logprobs === true ||
    (typeof request.top_logprobs === "number" && request.top_logprobs > 0)
  ) {
    throw refusal(`${upstream} returns no log probabilities: 'logprobs' is not supported`);
  }
  const format = request.response_format;
  if (format != null && !(isRecord(format) && format.type === "text")) {
    throw refusal(`${upstream} does not support 'response_format' other than 'text'`);
  }
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) {
    throw refusal(`${upstream} does not support 'logit_bias'`);
  }
  const modalities = request.modalities;
  if (modalities != null && !(Array.isArray(modalities) && modalities.every((m) => m === "text"))) {
    throw refusal(`${upstream} answers in text only: 'modalities' must be ['text']`);
  }
  for (const [key, value] of Object.entries(request)) {
    if (value == null || support.handled.has(key) || support.dropped.has(key)) continue;
    throw refusal(`${upstream} does not support the parameter '${key}'`);
  }
}

/** An assistant's tool call, its arguments parsed. */
export interface ToolCallInput {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** Reads one of an assistant message's `tool_calls`: a function call whose arguments are JSON. */
function toolCallInput(toolCall: unknown, where: string): ToolCallInput {
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
  return { id: toolCall.id, name: fn.name, input };
}

/** The text parts of a message that may hold text only (`kind` names it in the error). */
function textParts(content: ChatMessage["content"], where: string, kind: string): string[] {
  if (content == null) return [];
  if (typeof content === "string") return [content];
  return content.map((part, index) => {
    if (part.type !== "text" || typeof part.text !== "string") {
      throw refusal(`${where}.content[${index}]: ${kind} may hold text parts only`);
    }
    return part.text;
  });
}

/** An image a content part points at: inline base64 data, or a URL. */
export type ImageInput = { kind: "base64"; mediaType: string; data: string } | {
  kind: "url";
  url: string;
};

/** Reads an `image_url` content part: a base64 data URL or an http(s) URL. */
function imageInput(part: Record<string, unknown>, where: string): ImageInput {
  const image = part.image_url;
  const url = isRecord(image) ? image.url : image;
  if (typeof url !== "string") throw refusal(`${where}.image_url.url must be a string`);
  if (url.startsWith("data:")) {
    const match = /^data:([^;,]+);base64,(.+)$/s.exec(url);
    if (!match) throw refusal(`${where}: an image data URL must be base64-encoded`);
    return { kind: "base64", mediaType: match[1].toLowerCase(), data: match[2] };
  }
  if (/^https?:\/\//i.test(url)) return { kind: "url", url };
  throw refusal(`${where}: an image must be an http(s) URL or a base64 data URL`);
}

/** One turn of a conversation whose roles must alternate. */
export interface Turn<Block> {
  role: "user" | "assistant";
  blocks: Block[];
}

/** A piece of a user message: text (never empty) or an image. */
export type UserPart = { kind: "text"; text: string } | {
  kind: "image";
  image: ImageInput;
  /** Where the part stands, for the upstream's own refusals of an image. */
  where: string;
};

/** A piece of an assistant message: text (never empty) or a tool call. */
export type AssistantPart = { kind: "text"; text: string } | {
  kind: "tool_call";
  call: ToolCallInput;
};

/** How an upstream writes each piece of a conversation as its content blocks. */
export interface BlockWriter<Block> {
  user(part: UserPart): Block;
  assistant(part: AssistantPart): Block;
  /** A tool's result: the call it answers and its text, a string or text parts. */
  toolResult(toolCallId: string, content: string | string[]): Block;
}

/**
 * Reads a chat request's messages as a system prompt and turns of blocks. System and developer
 * messages make up the system prompt (each one's text, wherever it stood); tool results become
 * user turns; consecutive turns of one role are merged, since upstreams with their own API
 * (`upstream` names it in errors) require the roles to alternate.
 */
export function readConversation<Block>(
  input: ChatMessage[],
  write: BlockWriter<Block>,
  upstream: string,
): { system: string[]; turns: Array<Turn<Block>> } {
  const system: string[] = [];
  const turns: Array<Turn<Block>> = [];
  input.forEach((message, index) => {
    const where = `messages[${index}]`;
    if (message.role === "system" || message.role === "developer") {
      const text = textParts(message.content, where, "system messages").join("\n");
      if (text.length > 0) system.push(text);
      return;
    }
    const turn = readTurn(message, where, write, upstream);
    if (turn.blocks.length === 0) throw refusal(`${where} has no content`);
    const last = turns.at(-1);
    if (last?.role === turn.role) last.blocks.push(...turn.blocks);
    else turns.push(turn);
  });
  if (turns.length === 0) throw refusal(`${upstream} needs at least one user or assistant message`);
  return { system, turns };
}

function readTurn<Block>(
  message: ChatMessage,
  where: string,
  write: BlockWriter<Block>,
  upstream: string,
): Turn<Block> {
  switch (message.role) {
    case "user":
      return { role: "user", blocks: userParts(message.content, where, upstream).map(write.user) };
    case "assistant":
      return { role: "assistant", blocks: assistantParts(message, where).map(write.assistant) };
    case "tool": {
      const id = message.tool_call_id;
      if (typeof id !== "string" || id === "") throw refusal(`${where} needs a 'tool_call_id'`);
      const content = message.content;
      const result = content == null || typeof content === "string"
        ? content ?? ""
        : textParts(content, where, "tool results");
      return { role: "user", blocks: [write.toolResult(id, result)] };
    }
    default:
      throw refusal(`${where}: the role '${message.role}' is not supported; use tools and 'tool'`);
  }
}

function userParts(content: ChatMessage["content"], where: string, upstream: string): UserPart[] {
  if (content == null) return [];
  if (typeof content === "string") return content ? [{ kind: "text", text: content }] : [];
  return content.flatMap((part, index): UserPart[] => {
    const at = `${where}.content[${index}]`;
    if (part.type === "text") return textPart(part.text, at);
    if (part.type === "image_url") {
      return [{ kind: "image", image: imageInput(part, at), where: at }];
    }
    throw refusal(`${at}: content parts of type '${part.type}' are not supported by ${upstream}`);
  });
}

function assistantParts(message: ChatMessage, where: string): AssistantPart[] {
  const parts: AssistantPart[] = [];
  const content = message.content;
  if (typeof content === "string") parts.push(...textPart(content, `${where}.content`));
  else if (content) {
    content.forEach((part, index) => {
      const at = `${where}.content[${index}]`;
      if (part.type === "text") parts.push(...textPart(part.text, at));
      else if (part.type === "refusal") parts.push(...textPart(part.refusal, at));
      else throw refusal(`${at}: assistant content of type '${part.type}' is not supported`);
    });
  }
  const toolCalls = message.tool_calls;
  if (toolCalls == null) return parts;
  if (!Array.isArray(toolCalls)) throw refusal(`${where}.tool_calls must be an array`);
  toolCalls.forEach((toolCall, index) => {
    parts.push({
      kind: "tool_call",
      call: toolCallInput(toolCall, `${where}.tool_calls[${index}]`),
    });
  });
  return parts;
}

/** A text part, or none for empty text: upstreams with their own API reject blank text. */
function textPart(text: unknown, where: string): Array<{ kind: "text"; text: string }> {
  if (typeof text !== "string") throw refusal(`${where}: 'text' must be a string`);
  return text ? [{ kind: "text", text }] : [];
}

/** The function a `tool_choice` object names; undefined for anything else. */
export function toolChoiceName(choice: unknown): string | undefined {
  if (isRecord(choice) && choice.type === "function" && isRecord(choice.function)) {
    const name = choice.function.name;
    if (typeof name === "string") return name;
  }
  return undefined;
}

/** A function tool of a request, read from its `tools` entry. */
export interface FunctionTool {
  name: string;
  description?: string;
  /** Its parameters' JSON schema; an object with no properties when it sets none. */
  parameters: Record<string, unknown>;
  strict: boolean;
}

/** Reads `tools[index]`, which must be a function (`upstream` names who refuses other kinds). */
export function functionTool(tool: unknown, index: number, upstream: string): FunctionTool {
  const where = `tools[${index}]`;
  const fn = isRecord(tool) ? tool.function : undefined;
  if (!isRecord(tool) || tool.type !== "function" || !isRecord(fn)) {
    throw refusal(`${where}: ${upstream} models support tools of type 'function' only`);
  }
  if (typeof fn.name !== "string") throw refusal(`${where}.function.name must be a string`);
  const parameters = fn.parameters ?? { type: "object", properties: {} };
  if (!isRecord(parameters)) throw refusal(`${where}.function.parameters must be an object`);
  const read: FunctionTool = { name: fn.name, parameters, strict: fn.strict === true };
  if (typeof fn.description === "string") read.description = fn.description;
  return read;
}
