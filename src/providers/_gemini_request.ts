import {
  badRequest,
  type ChatCompletionRequest,
  type ChatMessage,
  type HttpError,
} from "../core/mod.ts";
import type {
  GeminiContent,
  GeminiFunctionDeclaration,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRequest,
  GeminiToolConfig,
} from "./_gemini_api.ts";
import { thoughtSignatureOf } from "./_gemini_tool_ids.ts";

/** Fields translated below, or checked and accepted when they ask nothing Gemini lacks. */
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
  "n",
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "response_format",
  "tools",
  "tool_choice",
  "logprobs",
  "top_logprobs",
  "logit_bias",
  "modalities",
  "reasoning_effort",
]);

/**
 * Fields dropped because ignoring them changes no guarantee the client relies on: `user`,
 * `store` and `metadata` are for OpenAI's own records, and Gemini has no switch for parallel
 * function calls (it decides itself how many to make).
 */
const DROPPED = new Set(["user", "store", "metadata", "parallel_tool_calls"]);

/**
 * Thinking budgets (tokens) for OpenAI's `reasoning_effort`, the ones Google's own OpenAI
 * compatibility uses; `none` and `minimal` turn thinking off where the model allows it.
 */
const THINKING_BUDGETS: Readonly<Record<string, number>> = {
  none: 0,
  minimal: 0,
  low: 1024,
  medium: 8192,
  high: 24576,
};

/**
 * The image types Gemini reads, by the extension of an http(s) or `gs://` URL: Gemini's
 * `fileData` must name the type, and a URL is all the gateway knows of the file.
 */
const IMAGE_TYPES_BY_EXTENSION: Readonly<Record<string, string>> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
};

/**
 * Translates an OpenAI chat request into the body of Gemini's `generateContent`. What Gemini
 * cannot honour is refused with the client's 400 rather than dropped. Gemini's function calls
 * carry no ids, so a `tool` message is matched to its call by the `tool_call_id` of an earlier
 * assistant message, and answers the function by that call's name.
 */
export function toGeminiRequest(request: ChatCompletionRequest): GeminiRequest {
  refuseUnsupported(request);
  const { system, contents } = translateMessages(request.messages);
  const body: GeminiRequest = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system.map((text) => ({ text })) };
  Object.assign(body, translateTools(request));
  const config = generationConfig(request);
  if (Object.keys(config).length > 0) body.generationConfig = config;
  return body;
}

/** The error for a request Gemini cannot serve as asked: the client's 400, before any call. */
function refusal(message: string, param?: string): HttpError {
  return badRequest(message, "unsupported_parameter", param);
}

function refuseUnsupported(request: ChatCompletionRequest): void {
  if (
    request.logprobs === true ||
    (typeof request.top_logprobs === "number" && request.top_logprobs > 0)
  ) {
    throw refusal("Gemini's log probabilities are not translated: 'logprobs' is not supported");
  }
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) {
    throw refusal("Gemini models do not support 'logit_bias'", "logit_bias");
  }
  const modalities = request.modalities;
  if (modalities != null && !(Array.isArray(modalities) && modalities.every((m) => m === "text"))) {
    throw refusal("Gemini models answer in text here: 'modalities' must be ['text']", "modalities");
  }
  for (const [key, value] of Object.entries(request)) {
    if (value == null || HANDLED.has(key) || DROPPED.has(key)) continue;
    throw refusal(`Gemini models do not support the parameter '${key}'`, key);
  }
}

function generationConfig(request: ChatCompletionRequest): GeminiGenerationConfig {
  const config: GeminiGenerationConfig = {};
  if (request.temperature != null) config.temperature = request.temperature;
  if (request.top_p != null) config.topP = request.top_p;
  if (request.n != null && request.n > 1) config.candidateCount = request.n;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) config.maxOutputTokens = maxTokens;
  const stop = typeof request.stop === "string" ? [request.stop] : request.stop;
  if (stop && stop.length > 0) config.stopSequences = stop;
  if (request.presence_penalty != null) config.presencePenalty = request.presence_penalty;
  if (request.frequency_penalty != null) config.frequencyPenalty = request.frequency_penalty;
  if (request.seed != null) config.seed = request.seed;
  const effort = request.reasoning_effort;
  if (effort != null) {
    const budget = typeof effort === "string" ? THINKING_BUDGETS[effort] : undefined;
    if (budget === undefined) {
      throw refusal(
        `'reasoning_effort' must be one of ${Object.keys(THINKING_BUDGETS).join(", ")}`,
        "reasoning_effort",
      );
    }
    config.thinkingConfig = { thinkingBudget: budget };
  }
  Object.assign(config, responseFormat(request.response_format));
  return config;
}

/** `json_object` asks for JSON; `json_schema` for JSON of that schema, as JSON Schema. */
function responseFormat(format: unknown): GeminiGenerationConfig {
  if (format == null || (isRecord(format) && format.type === "text")) return {};
  if (isRecord(format) && format.type === "json_object") {
    return { responseMimeType: "application/json" };
  }
  if (isRecord(format) && format.type === "json_schema") {
    const spec = format.json_schema;
    const schema = isRecord(spec) ? spec.schema : undefined;
    if (!isRecord(schema)) {
      throw refusal("'response_format.json_schema.schema' must be an object", "response_format");
    }
    return { responseMimeType: "application/json", responseJsonSchema: schema };
  }
  throw refusal(
    "'response_format' must be of type 'text', 'json_object' or 'json_schema'",
    "response_format",
  );
}

/**
 * System and developer messages become `systemInstruction` (wherever they stood); assistant
 * turns are the `model`'s; tool results are the user's turn; consecutive turns of one role are
 * merged, as Gemini wants the roles to alternate and parallel answers in one turn.
 */
function translateMessages(
  input: ChatMessage[],
): { system: string[]; contents: GeminiContent[] } {
  const system: string[] = [];
  const contents: GeminiContent[] = [];
  /** The function name of each tool call the conversation made, by its id. */
  const calls = new Map<string, string>();
  input.forEach((message, index) => {
    const where = `messages[${index}]`;
    if (message.role === "system" || message.role === "developer") {
      const text = textOnly(message.content, where);
      if (text.length > 0) system.push(text);
      return;
    }
    const turn = translateMessage(message, { where, calls });
    if (turn.parts.length === 0) throw refusal(`${where} has no content`, "messages");
    const last = contents.at(-1);
    if (last && last.role === turn.role) last.parts.push(...turn.parts);
    else contents.push(turn);
  });
  if (contents.length === 0) {
    throw refusal("Gemini needs at least one user or assistant message", "messages");
  }
  return { system, contents };
}

interface MessageContext {
  where: string;
  calls: Map<string, string>;
}

function translateMessage(message: ChatMessage, context: MessageContext): GeminiContent {
  switch (message.role) {
    case "user":
      return { role: "user", parts: userParts(message.content, context.where) };
    case "assistant":
      return { role: "model", parts: modelParts(message, context) };
    case "tool":
      return { role: "user", parts: [functionResponse(message, context)] };
    default:
      throw refusal(
        `${context.where}: the role '${message.role}' is not supported; use tools and 'tool'`,
        "messages",
      );
  }
}

function userParts(content: ChatMessage["content"], where: string): GeminiPart[] {
  if (content == null) return [];
  if (typeof content === "string") return content ? [{ text: content }] : [];
  return content.flatMap((part, index): GeminiPart[] => {
    const at = `${where}.content[${index}]`;
    if (part.type === "text") return textPart(part.text, at);
    if (part.type === "image_url") return [imagePart(part.image_url, at)];
    if (part.type === "input_audio") return [audioPart(part.input_audio, at)];
    if (part.type === "file") return [filePart(part.file, at)];
    throw refusal(`${at}: content parts of type '${part.type}' are not supported by Gemini`);
  });
}

function modelParts(message: ChatMessage, { where, calls }: MessageContext): GeminiPart[] {
  const parts: GeminiPart[] = [];
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
    const call = functionCall(toolCall, `${where}.tool_calls[${index}]`);
    calls.set(call.id, call.name);
    const part: GeminiPart = { functionCall: { name: call.name, args: call.args } };
    const signature = thoughtSignatureOf(call.id);
    if (signature !== undefined) part.thoughtSignature = signature;
    parts.push(part);
  });
  return parts;
}

function functionCall(
  toolCall: unknown,
  where: string,
): { id: string; name: string; args: Record<string, unknown> } {
  const fn = isRecord(toolCall) ? toolCall.function : undefined;
  if (
    !isRecord(toolCall) || toolCall.type !== "function" || typeof toolCall.id !== "string" ||
    !isRecord(fn) || typeof fn.name !== "string"
  ) {
    throw refusal(`${where} must be a function call with an 'id' and a 'function.name'`);
  }
  const text = fn.arguments ?? "";
  if (typeof text !== "string") throw refusal(`${where}.function.arguments must be a string`);
  let args: unknown = {};
  if (text.trim() !== "") {
    try {
      args = JSON.parse(text);
    } catch {
      throw refusal(`${where}.function.arguments is not valid JSON`);
    }
  }
  if (!isRecord(args)) throw refusal(`${where}.function.arguments must be a JSON object`);
  return { id: toolCall.id, name: fn.name, args };
}

/**
 * A tool's answer for the function its call named. A JSON object is the response itself;
 * anything else is put under `output`, the key Gemini's reference gives a function's output.
 */
function functionResponse(message: ChatMessage, { where, calls }: MessageContext): GeminiPart {
  const id = message.tool_call_id;
  if (typeof id !== "string" || id === "") throw refusal(`${where} needs a 'tool_call_id'`);
  const name = calls.get(id);
  if (name === undefined) {
    throw refusal(`${where}: 'tool_call_id' ${id} matches no tool call of an earlier message`);
  }
  const text = textOnly(message.content, where);
  let response: Record<string, unknown> = { output: text };
  try {
    const parsed: unknown = JSON.parse(text);
    if (isRecord(parsed)) response = parsed;
  } catch {
    // Plain text stays under `output`.
  }
  return { functionResponse: { name, response } };
}

/** A text part, or none for empty text: Gemini rejects empty parts. */
function textPart(text: unknown, where: string): GeminiPart[] {
  if (typeof text !== "string") throw refusal(`${where}: 'text' must be a string`);
  return text ? [{ text }] : [];
}

/** The text of a system or tool message: a string or text parts. */
function textOnly(content: ChatMessage["content"], where: string): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content.map((part, index) => {
    if (part.type !== "text" || typeof part.text !== "string") {
      throw refusal(`${where}.content[${index}]: only text parts are supported here`);
    }
    return part.text;
  }).join("\n");
}

/**
 * A data URL is sent inline; an http(s) or `gs://` URL as `fileData`, typed by its extension,
 * for Gemini to fetch (Vertex AI reads public and Cloud Storage URLs, AI Studio its own file
 * URIs and public ones its models support).
 */
function imagePart(image: unknown, where: string): GeminiPart {
  const url = isRecord(image) ? image.url : image;
  if (typeof url !== "string") throw refusal(`${where}.image_url.url must be a string`);
  if (url.startsWith("data:")) {
    const part = inlineData(url);
    if (!part) throw refusal(`${where}: an image data URL must be base64-encoded`);
    return part;
  }
  if (!/^(https?|gs):\/\//i.test(url)) {
    throw refusal(`${where}: an image must be an http(s) or gs:// URL or a base64 data URL`);
  }
  const path = URL.canParse(url) ? new URL(url).pathname : "";
  const extension = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase() ?? "";
  const mimeType = IMAGE_TYPES_BY_EXTENSION[extension];
  if (mimeType === undefined) {
    throw refusal(
      `${where}: an image URL must end in .png, .jpg, .jpeg, .webp, .heic or .heif for Gemini to know its type; send other images as a data URL`,
    );
  }
  return { fileData: { mimeType, fileUri: url } };
}

/** A file sent with its data (a PDF, say) goes inline; Gemini cannot read OpenAI's file ids. */
function filePart(file: unknown, where: string): GeminiPart {
  const data = isRecord(file) ? file.file_data : undefined;
  const part = typeof data === "string" ? inlineData(data) : undefined;
  if (!part) throw refusal(`${where}: a file must be sent as 'file_data', a base64 data URL`);
  return part;
}

/** The inline part of a base64 data URL; undefined for any other text. */
function inlineData(url: string): GeminiPart | undefined {
  const match = /^data:([^;,]+);base64,(.+)$/s.exec(url);
  return match ? { inlineData: { mimeType: match[1].toLowerCase(), data: match[2] } } : undefined;
}

function audioPart(audio: unknown, where: string): GeminiPart {
  if (!isRecord(audio) || typeof audio.data !== "string" || typeof audio.format !== "string") {
    throw refusal(`${where}.input_audio must have a base64 'data' and a 'format'`);
  }
  return { inlineData: { mimeType: `audio/${audio.format}`, data: audio.data } };
}

function translateTools(
  request: ChatCompletionRequest,
): Pick<GeminiRequest, "tools" | "toolConfig"> {
  const tools = request.tools;
  if (tools != null && !Array.isArray(tools)) throw refusal("'tools' must be an array", "tools");
  const choice = request.tool_choice;
  if (!tools || tools.length === 0) {
    if (choice == null || choice === "auto" || choice === "none") return {};
    throw refusal("'tool_choice' asks for a tool call but the request has no 'tools'", "tools");
  }
  const declarations = tools.map(declaration);
  const toolConfig = translateToolChoice(choice);
  const translated = { tools: [{ functionDeclarations: declarations }] };
  return toolConfig ? { ...translated, toolConfig } : translated;
}

/** OpenAI's function parameters are JSON Schema, which `parametersJsonSchema` takes as it is. */
function declaration(tool: unknown, index: number): GeminiFunctionDeclaration {
  const where = `tools[${index}]`;
  const fn = isRecord(tool) ? tool.function : undefined;
  if (!isRecord(tool) || tool.type !== "function" || !isRecord(fn)) {
    throw refusal(`${where}: Gemini models support tools of type 'function' only`, "tools");
  }
  if (typeof fn.name !== "string") throw refusal(`${where}.function.name must be a string`);
  const translated: GeminiFunctionDeclaration = { name: fn.name };
  if (typeof fn.description === "string") translated.description = fn.description;
  if (fn.parameters != null) {
    if (!isRecord(fn.parameters)) throw refusal(`${where}.function.parameters must be an object`);
    translated.parametersJsonSchema = fn.parameters;
  }
  return translated;
}

function translateToolChoice(choice: unknown): GeminiToolConfig | undefined {
  if (choice == null) return undefined;
  if (choice === "auto") return { functionCallingConfig: { mode: "AUTO" } };
  if (choice === "none") return { functionCallingConfig: { mode: "NONE" } };
  if (choice === "required") return { functionCallingConfig: { mode: "ANY" } };
  if (isRecord(choice) && choice.type === "function" && isRecord(choice.function)) {
    const name = choice.function.name;
    if (typeof name === "string") {
      return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [name] } };
    }
  }
  throw refusal(
    "'tool_choice' must be 'auto', 'none', 'required' or a function; other kinds are not supported",
    "tool_choice",
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
