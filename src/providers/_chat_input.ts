/**
 * @module
 * Reading an OpenAI chat request for upstreams with an API of their own (Anthropic, Bedrock,
 * Gemini): what every such translation checks the same way, each failure the client's 400 naming
 * the field, before any call.
 */
import {
  badRequest,
  type ChatCompletionRequest,
  type ChatMessage,
  type HttpError,
} from "../core/mod.ts";

/**
 * The error for a request an upstream cannot serve as asked: the client's 400, before any call,
 * naming the request's field (`param`) when it is about one.
 */
export function refusal(message: string, param?: string): HttpError {
  return badRequest(message, "unsupported_parameter", param);
}

/** True for a plain object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Fields every such upstream's translation reads, or {@linkcode refuseUnsupported} checks and
 * accepts when they ask nothing the upstream lacks.
 */
const COMMON_FIELDS: ReadonlySet<string> = new Set([
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
  "n",
  "logprobs",
  "top_logprobs",
  "response_format",
  "logit_bias",
  "modalities",
]);

/** What an upstream does with a request's fields, for {@linkcode refuseUnsupported}. */
export interface FieldSupport {
  /** Its name in errors, e.g. `Anthropic`. */
  upstream: string;
  /** Fields besides the common ones that it translates, or checks and accepts. */
  handled: ReadonlySet<string>;
  /** Fields left out because ignoring them changes no guarantee the client relies on. */
  dropped: ReadonlySet<string>;
  /**
   * Several choices (`n`) and response formats other than text, when the upstream translates
   * them itself rather than having them refused.
   */
  translates?: ReadonlySet<"n" | "response_format">;
}

/**
 * Refuses what an upstream with text answers and no log probabilities cannot honour: several
 * choices and a response format (unless it translates them), log probabilities, a logit bias,
 * other modalities, and any field it neither handles nor drops.
 */
export function refuseUnsupported(request: ChatCompletionRequest, support: FieldSupport): void {
  const { upstream, translates } = support;
  if (request.n != null && request.n > 1 && !translates?.has("n")) {
    throw refusal(`${upstream} returns one choice: 'n' must be 1`, "n");
  }
  if (
    request.logprobs === true ||
    (typeof request.top_logprobs === "number" && request.top_logprobs > 0)
  ) {
    throw refusal(
      `The gateway takes no log probabilities from ${upstream}: 'logprobs' is not supported`,
      "logprobs",
    );
  }
  const format = request.response_format;
  if (
    format != null && !(isRecord(format) && format.type === "text") &&
    !translates?.has("response_format")
  ) {
    throw refusal(
      `${upstream} does not support 'response_format' other than 'text'`,
      "response_format",
    );
  }
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) {
    throw refusal(`${upstream} does not support 'logit_bias'`, "logit_bias");
  }
  const modalities = request.modalities;
  if (modalities != null && !(Array.isArray(modalities) && modalities.every((m) => m === "text"))) {
    throw refusal(
      `The gateway takes only text from ${upstream}: 'modalities' must be ['text']`,
      "modalities",
    );
  }
  for (const [key, value] of Object.entries(request)) {
    if (value == null || COMMON_FIELDS.has(key)) continue;
    if (support.handled.has(key) || support.dropped.has(key)) continue;
    throw refusal(`${upstream} does not support the parameter '${key}'`, key);
  }
}

/** An assistant's tool call, its arguments parsed. */
export interface ToolCallInput {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** The error for a message an upstream cannot read: the client's 400 naming `messages`. */
function messageRefusal(message: string): HttpError {
  return refusal(message, "messages");
}

/** Reads one of an assistant message's `tool_calls`: a function call whose arguments are JSON. */
function toolCallInput(toolCall: unknown, where: string): ToolCallInput {
  const fn = isRecord(toolCall) ? toolCall.function : undefined;
  if (
    !isRecord(toolCall) || toolCall.type !== "function" || typeof toolCall.id !== "string" ||
    !isRecord(fn) || typeof fn.name !== "string"
  ) {
    throw messageRefusal(`${where} must be a function call with an 'id' and a 'function.name'`);
  }
  const args = fn.arguments ?? "";
  if (typeof args !== "string") {
    throw messageRefusal(`${where}.function.arguments must be a string`);
  }
  let input: unknown = {};
  if (args.trim() !== "") {
    try {
      input = JSON.parse(args);
    } catch {
      throw messageRefusal(`${where}.function.arguments is not valid JSON`);
    }
  }
  if (!isRecord(input)) throw messageRefusal(`${where}.function.arguments must be a JSON object`);
  return { id: toolCall.id, name: fn.name, input };
}

/** The text parts of a message that may hold text only (`kind` names it in the error). */
function textParts(content: ChatMessage["content"], where: string, kind: string): string[] {
  if (content == null) return [];
  if (typeof content === "string") return [content];
  return content.map((part, index) => {
    if (part.type !== "text" || typeof part.text !== "string") {
      throw messageRefusal(`${where}.content[${index}]: ${kind} may hold text parts only`);
    }
    return part.text;
  });
}

/** An image a content part points at: inline base64 data, or a URL. */
export type ImageInput = { kind: "base64"; mediaType: string; data: string } | {
  kind: "url";
  url: string;
};

/** The media type and base64 data of a base64 data URL; undefined for any other text. */
export function base64DataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+);base64,(.+)$/s.exec(url);
  return match ? { mediaType: match[1].toLowerCase(), data: match[2] } : undefined;
}

/**
 * Reads an `image_url` content part: a base64 data URL, or a URL of http(s) or of one of the
 * `schemes` the upstream also fetches.
 */
function imageInput(
  part: Record<string, unknown>,
  where: string,
  schemes: readonly string[],
): ImageInput {
  const image = part.image_url;
  const url = isRecord(image) ? image.url : image;
  if (typeof url !== "string") throw messageRefusal(`${where}.image_url.url must be a string`);
  if (url.startsWith("data:")) {
    const inline = base64DataUrl(url);
    if (!inline) throw messageRefusal(`${where}: an image data URL must be base64-encoded`);
    return { kind: "base64", ...inline };
  }
  const lower = url.toLowerCase();
  if (["http", "https", ...schemes].some((scheme) => lower.startsWith(`${scheme}://`))) {
    return { kind: "url", url };
  }
  const others = schemes.map((scheme) => ` or ${scheme}://`).join("");
  throw messageRefusal(`${where}: an image must be an http(s)${others} URL or a base64 data URL`);
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
  /**
   * A tool's result: the call it answers and its text, a string or text parts; `where` names
   * the message, for the upstream's own refusals.
   */
  toolResult(toolCallId: string, content: string | string[], where: string): Block;
  /** An `input_audio` part's value, for upstreams that read audio; the others refuse the part. */
  audio?(audio: unknown, where: string): Block;
  /** A `file` part's value, for upstreams that read files; the others refuse the part. */
  file?(file: unknown, where: string): Block;
}

/** How {@linkcode readConversation} reads a conversation for one upstream. */
export interface ConversationReading<Block> {
  /** The upstream's name in errors, e.g. `Anthropic`. */
  upstream: string;
  /** How the upstream writes each piece. */
  write: BlockWriter<Block>;
  /** URL schemes besides http(s) that the upstream fetches images from, e.g. `gs`. */
  imageSchemes?: readonly string[];
}

/**
 * Reads a chat request's messages as a system prompt and turns of blocks. System and developer
 * messages make up the system prompt (each one's text, wherever it stood); tool results become
 * user turns; consecutive turns of one role are merged, since upstreams with their own API
 * require the roles to alternate.
 */
export function readConversation<Block>(
  input: ChatMessage[],
  reading: ConversationReading<Block>,
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
    const turn = readTurn(message, where, reading);
    if (turn.blocks.length === 0) throw messageRefusal(`${where} has no content`);
    const last = turns.at(-1);
    if (last?.role === turn.role) last.blocks.push(...turn.blocks);
    else turns.push(turn);
  });
  if (turns.length === 0) {
    throw messageRefusal(`${reading.upstream} needs at least one user or assistant message`);
  }
  return { system, turns };
}

function readTurn<Block>(
  message: ChatMessage,
  where: string,
  reading: ConversationReading<Block>,
): Turn<Block> {
  const { write } = reading;
  switch (message.role) {
    case "user":
      return { role: "user", blocks: userBlocks(message.content, where, reading) };
    case "assistant":
      return { role: "assistant", blocks: assistantParts(message, where).map(write.assistant) };
    case "tool": {
      const id = message.tool_call_id;
      if (typeof id !== "string" || id === "") {
        throw messageRefusal(`${where} needs a 'tool_call_id'`);
      }
      const content = message.content;
      const result = content == null || typeof content === "string"
        ? content ?? ""
        : textParts(content, where, "tool results");
      return { role: "user", blocks: [write.toolResult(id, result, where)] };
    }
    default:
      throw messageRefusal(
        `${where}: the role '${message.role}' is not supported; use tools and 'tool'`,
      );
  }
}

function userBlocks<Block>(
  content: ChatMessage["content"],
  where: string,
  { upstream, write, imageSchemes = [] }: ConversationReading<Block>,
): Block[] {
  if (content == null) return [];
  if (typeof content === "string") {
    return content ? [write.user({ kind: "text", text: content })] : [];
  }
  return content.flatMap((part, index): Block[] => {
    const at = `${where}.content[${index}]`;
    if (part.type === "text") return textPart(part.text, at).map(write.user);
    if (part.type === "image_url") {
      return [write.user({ kind: "image", image: imageInput(part, at, imageSchemes), where: at })];
    }
    if (part.type === "input_audio" && write.audio) return [write.audio(part.input_audio, at)];
    if (part.type === "file" && write.file) return [write.file(part.file, at)];
    throw messageRefusal(
      `${at}: content parts of type '${part.type}' are not supported by ${upstream}`,
    );
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
      else throw messageRefusal(`${at}: assistant content of type '${part.type}' is not supported`);
    });
  }
  const toolCalls = message.tool_calls;
  if (toolCalls == null) return parts;
  if (!Array.isArray(toolCalls)) throw messageRefusal(`${where}.tool_calls must be an array`);
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
  if (typeof text !== "string") throw messageRefusal(`${where}: 'text' must be a string`);
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
  /** Whether it set its parameters, for upstreams that leave out the schema of none. */
  setsParameters: boolean;
  strict: boolean;
}

/**
 * The request's function tools (`upstream` names who refuses other kinds); undefined when it has
 * none, and then a `tool_choice` that asks for a call is refused.
 */
export function readTools(
  request: ChatCompletionRequest,
  upstream: string,
): FunctionTool[] | undefined {
  const tools = request.tools;
  if (tools != null && !Array.isArray(tools)) throw refusal("'tools' must be an array", "tools");
  if (tools && tools.length > 0) {
    return tools.map((tool, index) => functionTool(tool, index, upstream));
  }
  const choice = request.tool_choice;
  if (choice == null || choice === "auto" || choice === "none") return undefined;
  throw refusal("'tool_choice' asks for a tool call but the request has no 'tools'", "tools");
}

/** Reads `tools[index]`, which must be a function. */
function functionTool(tool: unknown, index: number, upstream: string): FunctionTool {
  const where = `tools[${index}]`;
  const fn = isRecord(tool) ? tool.function : undefined;
  if (!isRecord(tool) || tool.type !== "function" || !isRecord(fn)) {
    throw refusal(`${where}: ${upstream} models support tools of type 'function' only`, "tools");
  }
  if (typeof fn.name !== "string") {
    throw refusal(`${where}.function.name must be a string`, "tools");
  }
  const parameters = fn.parameters ?? { type: "object", properties: {} };
  if (!isRecord(parameters)) {
    throw refusal(`${where}.function.parameters must be an object`, "tools");
  }
  const read: FunctionTool = {
    name: fn.name,
    parameters,
    setsParameters: fn.parameters != null,
    strict: fn.strict === true,
  };
  if (typeof fn.description === "string") read.description = fn.description;
  return read;
}
