import type { ChatCompletionRequest } from "../core/mod.ts";
import {
  base64DataUrl,
  type BlockWriter,
  type FunctionTool,
  type ImageInput,
  isRecord,
  readConversation,
  readTools,
  refusal,
  refuseUnsupported,
  toolChoiceName,
} from "./_chat_input.ts";
import type {
  GeminiFunctionDeclaration,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRequest,
  GeminiToolConfig,
} from "./_gemini_api.ts";
import { thoughtSignatureOf } from "./_gemini_tool_ids.ts";

/** Fields translated below besides the ones every upstream with its own API reads. */
const HANDLED = new Set(["presence_penalty", "frequency_penalty", "seed", "reasoning_effort"]);

/**
 * Fields dropped because ignoring them changes no guarantee the client relies on: `user`,
 * `store` and `metadata` are for OpenAI's own records, and Gemini has no switch for parallel
 * function calls (it decides itself how many to make).
 */
const DROPPED = new Set(["user", "store", "metadata", "parallel_tool_calls"]);

/** Gemini answers with several candidates and in JSON: `n` and `response_format` translate. */
const TRANSLATES = new Set(["n", "response_format"] as const);

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
  refuseUnsupported(request, {
    upstream: "Gemini",
    handled: HANDLED,
    dropped: DROPPED,
    translates: TRANSLATES,
  });
  const { system, turns } = readConversation(request.messages, {
    upstream: "Gemini",
    write: geminiParts(),
    imageSchemes: ["gs"],
  });
  const body: GeminiRequest = {
    contents: turns.map(({ role, blocks }) => ({
      role: role === "assistant" ? "model" : "user",
      parts: blocks,
    })),
  };
  if (system.length > 0) body.systemInstruction = { parts: system.map((text) => ({ text })) };
  Object.assign(body, translateTools(request));
  const config = generationConfig(request);
  if (Object.keys(config).length > 0) body.generationConfig = config;
  return body;
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
 * How Gemini writes each piece of one conversation. Its function calls carry no ids, so a tool's
 * result answers the function that the earlier call of its `tool_call_id` named.
 */
function geminiParts(): BlockWriter<GeminiPart> {
  /** The function name of each tool call the conversation made, by its id. */
  const calls = new Map<string, string>();
  return {
    user: (part) => part.kind === "text" ? { text: part.text } : imagePart(part.image, part.where),
    assistant(part) {
      if (part.kind === "text") return { text: part.text };
      const { id, name, input } = part.call;
      calls.set(id, name);
      const written: GeminiPart = { functionCall: { name, args: input } };
      const signature = thoughtSignatureOf(id);
      if (signature !== undefined) written.thoughtSignature = signature;
      return written;
    },
    toolResult(id, content, where) {
      const name = calls.get(id);
      if (name === undefined) {
        throw refusal(`${where}: 'tool_call_id' ${id} matches no tool call of an earlier message`);
      }
      return functionResponse(name, typeof content === "string" ? content : content.join("\n"));
    },
    audio: audioPart,
    file: filePart,
  };
}

/**
 * A tool's answer for the function its call named. A JSON object is the response itself;
 * anything else is put under `output`, the key Gemini's reference gives a function's output.
 */
function functionResponse(name: string, text: string): GeminiPart {
  let response: Record<string, unknown> = { output: text };
  try {
    const parsed: unknown = JSON.parse(text);
    if (isRecord(parsed)) response = parsed;
  } catch {
    // Plain text stays under `output`.
  }
  return { functionResponse: { name, response } };
}

/**
 * A data URL is sent inline; an http(s) or `gs://` URL as `fileData`, typed by its extension,
 * for Gemini to fetch (Vertex AI reads public and Cloud Storage URLs, AI Studio its own file
 * URIs and public ones its models support).
 */
function imagePart(image: ImageInput, where: string): GeminiPart {
  if (image.kind === "base64") {
    return { inlineData: { mimeType: image.mediaType, data: image.data } };
  }
  const url = image.url;
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
  const inline = typeof data === "string" ? base64DataUrl(data) : undefined;
  if (!inline) throw refusal(`${where}: a file must be sent as 'file_data', a base64 data URL`);
  return { inlineData: { mimeType: inline.mediaType, data: inline.data } };
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
  const tools = readTools(request, "Gemini");
  if (!tools) return {};
  const toolConfig = translateToolChoice(request.tool_choice);
  const translated = { tools: [{ functionDeclarations: tools.map(declaration) }] };
  return toolConfig ? { ...translated, toolConfig } : translated;
}

/** OpenAI's function parameters are JSON Schema, which `parametersJsonSchema` takes as it is. */
function declaration(tool: FunctionTool): GeminiFunctionDeclaration {
  const translated: GeminiFunctionDeclaration = { name: tool.name };
  if (tool.description !== undefined) translated.description = tool.description;
  if (tool.setsParameters) translated.parametersJsonSchema = tool.parameters;
  return translated;
}

function translateToolChoice(choice: unknown): GeminiToolConfig | undefined {
  if (choice == null) return undefined;
  if (choice === "auto") return { functionCallingConfig: { mode: "AUTO" } };
  if (choice === "none") return { functionCallingConfig: { mode: "NONE" } };
  if (choice === "required") return { functionCallingConfig: { mode: "ANY" } };
  const name = toolChoiceName(choice);
  if (name !== undefined) {
    return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [name] } };
  }
  throw refusal(
    "'tool_choice' must be 'auto', 'none', 'required' or a function; other kinds are not supported",
    "tool_choice",
  );
}
