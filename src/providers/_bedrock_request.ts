import type { ChatCompletionRequest } from "../core/mod.ts";
import type {
  BedrockContentBlock,
  BedrockImageFormat,
  BedrockRequest,
  BedrockToolChoice,
} from "./_bedrock_api.ts";
import {
  type BlockWriter,
  type ImageInput,
  readConversation,
  readTools,
  refusal,
  refuseUnsupported,
  toolChoiceName,
} from "./_chat_input.ts";

/** Fields translated below besides the ones every upstream with its own API reads. */
const HANDLED = new Set(["parallel_tool_calls"]);

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
  if (request.parallel_tool_calls === false) {
    throw refusal(
      "Bedrock cannot forbid parallel tool calls: 'parallel_tool_calls' must not be false",
    );
  }
  refuseUnsupported(request, { upstream: "Bedrock", handled: HANDLED, dropped: DROPPED });
  const { system, turns } = readConversation(request.messages, {
    upstream: "Bedrock",
    write: BLOCKS,
  });
  const body: BedrockRequest = {
    messages: turns.map(({ role, blocks }) => ({ role, content: blocks })),
  };
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

/** How Converse writes each piece of a conversation. */
const BLOCKS: BlockWriter<BedrockContentBlock> = {
  user: (part) => part.kind === "text" ? { text: part.text } : imageBlock(part.image, part.where),
  assistant: (part) =>
    part.kind === "text"
      ? { text: part.text }
      : { toolUse: { toolUseId: part.call.id, name: part.call.name, input: part.call.input } },
  toolResult(toolUseId, content) {
    const texts = typeof content === "string" ? [content] : content;
    // Converse wants at least one block: an empty result is an empty text.
    const blocks = (texts.length > 0 ? texts : [""]).map((text) => ({ text }));
    return { toolResult: { toolUseId, content: blocks } };
  },
};

function imageBlock(image: ImageInput, where: string): BedrockContentBlock {
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
  const tools = readTools(request, "Bedrock");
  if (!tools) return undefined;
  const translated = tools.map(({ name, description, parameters }) => ({
    toolSpec: {
      name,
      ...(description === undefined ? {} : { description }),
      inputSchema: { json: parameters },
    },
  }));
  const toolChoice = translateToolChoice(request.tool_choice);
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
