import {
  type ChatCompletionRequest,
  type CountTokensAnswer,
  type CountTokensRequest,
  type MessagesAnswer,
  type MessagesRequest,
  usageFromAnthropic,
} from "../core/mod.ts";
import {
  type MessagesInput,
  type Provider,
  type ProviderOperation,
  type ProviderResult,
  type UpstreamCall,
  UpstreamError,
} from "../providers/mod.ts";
import { chatToMessage } from "./from_chat.ts";
import { chatToMessagesStream } from "./stream.ts";
import { messagesToChat } from "./to_chat.ts";

/** The external API path of the Messages operation. */
export const MESSAGES_ENDPOINT = "/v1/messages";

/** The external API path of the count_tokens operation. */
export const COUNT_TOKENS_ENDPOINT = "/v1/messages/count_tokens";

/**
 * A Messages call, which every provider serves: natively where the provider speaks Anthropic's
 * Messages API, otherwise translated into a chat completion and its answer (whole or streamed)
 * back into a Messages answer.
 */
export function messagesOperation(
  input: MessagesInput,
): ProviderOperation<MessagesAnswer> {
  const { request } = input;
  // Translated once, on the first deployment that needs it, and kept for any retry.
  let chat: ChatCompletionRequest | undefined;
  const translated = () => chat ??= messagesToChat(request);
  return {
    endpoint: MESSAGES_ENDPOINT,
    model: request.model,
    supportedBy: () => true,
    invoke: (provider, call) =>
      provider.messages
        ? provider.messages(input, call)
        : viaChat(provider, { request, chat: translated(), call }),
    // A malformed usage is estimated instead, as on the other routes.
    usageOf: ({ usage }) =>
      usage && isCount(usage.input_tokens) && isCount(usage.output_tokens)
        ? usageFromAnthropic(usage)
        : undefined,
    answerChars: (body) =>
      (Array.isArray(body.content) ? body.content : []).reduce(
        (chars, block) => chars + blockChars(block),
        0,
      ),
  };
}

/** A count_tokens call, served upstream by providers with `countTokens` only. */
export function countTokensOperation(
  input: MessagesInput<CountTokensRequest>,
): ProviderOperation<CountTokensAnswer> {
  return {
    endpoint: COUNT_TOKENS_ENDPOINT,
    model: input.request.model,
    supportedBy: (provider) => provider.countTokens !== undefined,
    invoke: (provider, call) => {
      if (!provider.countTokens) {
        return Promise.reject(
          new UpstreamError("client_error", `The provider '${provider.name}' cannot count tokens`, {
            status: 400,
          }),
        );
      }
      return provider.countTokens(input, call);
    },
    // Counting is free: nothing to limit or bill.
    usageOf: () => undefined,
    answerChars: () => undefined,
  };
}

async function viaChat(
  provider: Provider,
  options: { request: MessagesRequest; chat: ChatCompletionRequest; call: UpstreamCall },
): Promise<ProviderResult<MessagesAnswer>> {
  const { request, chat, call } = options;
  const translation = {
    model: request.model,
    stopSequences: request.stop_sequences,
    thinking: request.thinking?.type === "enabled",
  };
  const result = await provider.chatCompletion(chat, call);
  if (result.kind === "json") {
    return { kind: "json", body: chatToMessage(result.body, translation) };
  }
  return {
    kind: "stream",
    body: result.body.pipeThrough(chatToMessagesStream(translation)),
    outcome: result.outcome,
  };
}

function blockChars(block: MessagesAnswer["content"][number]): number {
  switch (block.type) {
    case "text":
      return typeof block.text === "string" ? block.text.length : 0;
    case "thinking":
      return typeof block.thinking === "string" ? block.thinking.length : 0;
    case "tool_use":
      return JSON.stringify(block.input ?? {}).length;
    default:
      return 0;
  }
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
