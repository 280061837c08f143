import type { ChatCompletionRequest, ChatMessage } from "../core/mod.ts";
import type {
  AnthropicImageSource,
  AnthropicMessage,
  AnthropicRequest,
  AnthropicRequestBlock,
  AnthropicTool,
  AnthropicToolChoice,
} from "./_anthropic_api.ts";
import {
  type BlockWriter,
  type FunctionTool,
  type ImageInput,
  readConversation,
  readTools,
  refusal,
  refuseUnsupported,
  toolChoiceName,
} from "./_chat_input.ts";

/** What the translation needs besides the request. */
export interface AnthropicRequestOptions {
  /** Anthropic's name for the model. */
  upstreamModel: string;
  /** `max_tokens` when the client set none: Anthropic requires one. */
  defaultMaxTokens: number;
}

/** Fields translated below besides the ones every upstream with its own API reads. */
const HANDLED = new Set(["user", "parallel_tool_calls"]);

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
  refuseUnsupported(request, { upstream: "Anthropic", handled: HANDLED, dropped: DROPPED });
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

/** How Anthropic writes each piece of a conversation. */
const BLOCKS: BlockWriter<AnthropicRequestBlock> = {
  user: (part) =>
    part.kind === "text"
      ? { type: "text", text: part.text }
      : { type: "image", source: imageSource(part.image, part.where) },
  assistant: (part) =>
    part.kind === "text"
      ? { type: "text", text: part.text }
      : { type: "tool_use", id: part.call.id, name: part.call.name, input: part.call.input },
  toolResult: (toolUseId, content) => ({
    type: "tool_result",
    tool_use_id: toolUseId,
    content: typeof content === "string"
      ? content
      : content.map((text) => ({ type: "text" as const, text })),
  }),
};

/** System messages are joined by blank lines into the top-level `system`; a lone text is a string. */
function translateMessages(
  input: ChatMessage[],
): { system: string | undefined; messages: AnthropicMessage[] } {
  const { system, turns } = readConversation(input, { upstream: "Anthropic", write: BLOCKS });
  const messages = turns.map(({ role, blocks }): AnthropicMessage => {
    const only = blocks.length === 1 ? blocks[0] : undefined;
    return { role, content: only?.type === "text" ? only.text : blocks };
  });
  return { system: system.length > 0 ? system.join("\n\n") : undefined, messages };
}

function imageSource(image: ImageInput, where: string): AnthropicImageSource {
  if (image.kind === "url") return { type: "url", url: image.url };
  if (!IMAGE_TYPES.has(image.mediaType)) {
    throw refusal(
      `${where}: Anthropic accepts JPEG, PNG, GIF and WebP images, not ${image.mediaType}`,
    );
  }
  return { type: "base64", media_type: image.mediaType, data: image.data };
}

function translateTools(
  request: ChatCompletionRequest,
): { tools?: AnthropicTool[]; tool_choice?: AnthropicToolChoice } {
  const tools = readTools(request, "Anthropic");
  if (!tools) return {};
  const translated = tools.map(translateTool);
  const toolChoice = translateToolChoice(request.tool_choice);
  if (request.parallel_tool_calls === false) {
    const forbidden = toolChoice ?? { type: "auto" };
    if (forbidden.type !== "none") forbidden.disable_parallel_tool_use = true;
    return { tools: translated, tool_choice: forbidden };
  }
  return toolChoice ? { tools: translated, tool_choice: toolChoice } : { tools: translated };
}

function translateTool({ name, description, parameters, strict }: FunctionTool): AnthropicTool {
  const translated: AnthropicTool = { name, input_schema: parameters };
  if (description !== undefined) translated.description = description;
  if (strict) translated.strict = true;
  return translated;
}

function translateToolChoice(choice: unknown): AnthropicToolChoice | undefined {
  if (choice == null) return undefined;
  if (choice === "auto") return { type: "auto" };
  if (choice === "none") return { type: "none" };
  if (choice === "required") return { type: "any" };
  const name = toolChoiceName(choice);
  if (name !== undefined) return { type: "tool", name };
  throw refusal(
    "'tool_choice' must be 'auto', 'none', 'required' or a function; other kinds are not supported",
  );
}
