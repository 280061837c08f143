/**
 * @module
 * Reading an OpenAI chat request for upstreams with an API of their own (Anthropic, Bedrock):
 * what every such translation checks the same way, each failure the client's 400 naming the
 * field, before any call.
 */
import { badRequest, type ChatMessage, type HttpError } from "../core/mod.ts";

/** The error for a request an upstream cannot serve as asked: the client's 400, before any call. */
export function refusal(message: string): HttpError {
  return badRequest(message, "unsupported_parameter");
}

/** True for a plain object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An assistant's tool call, its arguments parsed. */
export interface ToolCallInput {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** Reads one of an assistant message's `tool_calls`: a function call whose arguments are JSON. */
export function toolCallInput(toolCall: unknown, where: string): ToolCallInput {
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
export function textParts(content: ChatMessage["content"], where: string, kind: string): string[] {
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
export function imageInput(part: Record<string, unknown>, where: string): ImageInput {
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

/** Appends a turn, merged into the last one when it has the same role. */
export function appendTurn<Block>(turns: Array<Turn<Block>>, turn: Turn<Block>): void {
  const last = turns.at(-1);
  if (last?.role === turn.role) last.blocks.push(...turn.blocks);
  else turns.push(turn);
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
