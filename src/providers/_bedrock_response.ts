import {
  type ChatCompletion,
  type ModelInfo,
  randomId,
  type Usage,
  usageFromAnthropic,
} from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { UpstreamError } from "./errors.ts";
import { assistantMessage, type OpenAIToolCall, toolCall } from "./_chat_output.ts";
import type { BedrockModelSummary, BedrockResponse, BedrockUsage } from "./_bedrock_api.ts";

/**
 * Translates a Converse answer into an OpenAI `chat.completion` named after the model the client
 * asked for; Converse gives no id, so one is made. Text blocks are joined into `content`,
 * `toolUse` blocks become `tool_calls`; other blocks (reasoning, which the gateway never asks
 * for) are left out.
 */
export function fromBedrockResponse(
  response: BedrockResponse,
  options: { model: string; created: number },
): ChatCompletion {
  const content = response.output?.message?.content;
  if (!Array.isArray(content)) {
    throw new UpstreamError("invalid_response", "The upstream's answer has no output message");
  }
  let text: string | null = null;
  const toolCalls: OpenAIToolCall[] = [];
  for (const block of content) {
    if (typeof block?.text === "string") text = (text ?? "") + block.text;
    else if (block?.toolUse) {
      const { toolUseId, name, input } = block.toolUse;
      toolCalls.push(toolCall(toolUseId, name, input));
    }
  }
  const message = assistantMessage(text, toolCalls);
  const completion: ChatCompletion = {
    id: randomId("chatcmpl"),
    object: "chat.completion",
    created: options.created,
    model: options.model,
    choices: [{ index: 0, message, finish_reason: finishReason(response.stopReason) }],
  };
  if (response.usage) completion.usage = usageOf(response.usage);
  return completion;
}

/**
 * OpenAI's `finish_reason` for Converse's `stopReason`: a guardrail or the model's own filter is
 * `content_filter`; an unknown reason ends the answer all the same: `stop`.
 */
export function finishReason(stopReason: string | undefined): string {
  switch (stopReason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "guardrail_intervened":
    case "content_filtered":
      return "content_filter";
    default:
      return "stop";
  }
}

/**
 * OpenAI's usage, counted as Anthropic's is (Bedrock's counts are the same, named otherwise): the
 * prompt counts the tokens read from and written to the prompt cache too, the ones read as its
 * `cached_tokens`, the ones written as `cache_creation_input_tokens`, each priced as such.
 */
export function usageOf(usage: BedrockUsage): Usage {
  return usageFromAnthropic({
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    cache_read_input_tokens: usage.cacheReadInputTokens,
    cache_creation_input_tokens: usage.cacheWriteInputTokens,
  });
}

/**
 * The error class of Bedrock's exceptions, by name (`ThrottlingException` in a failed call's
 * `x-amzn-errortype`, `throttlingException` in a stream), where its HTTP status alone would
 * mislead: a model that failed (424) is the upstream's failure, not the client's.
 */
const ERROR_CLASSES: Readonly<Record<string, UpstreamErrorClass>> = {
  ThrottlingException: "rate_limited",
  ServiceQuotaExceededException: "rate_limited",
  ModelNotReadyException: "rate_limited",
  ModelTimeoutException: "timeout",
  ModelErrorException: "server_error",
  ModelStreamErrorException: "server_error",
  InternalServerException: "server_error",
  ServiceUnavailableException: "server_error",
  ValidationException: "client_error",
  ResourceNotFoundException: "client_error",
  AccessDeniedException: "auth",
  UnrecognizedClientException: "auth",
  InvalidSignatureException: "auth",
  ExpiredTokenException: "auth",
};

/** The error class of a Bedrock exception name; undefined for one the table does not know. */
export function classifyException(name: string): UpstreamErrorClass | undefined {
  // `x-amzn-errortype` may carry a namespace after a colon; streams name them in lower camel case.
  const bare = name.split(":")[0];
  return ERROR_CLASSES[bare.charAt(0).toUpperCase() + bare.slice(1)];
}

/** An entry of OpenAI's model list for one of Bedrock's foundation models. */
export function modelInfo(model: BedrockModelSummary): ModelInfo {
  return {
    id: String(model.modelId),
    object: "model",
    created: 0,
    owned_by: typeof model.providerName === "string" ? model.providerName.toLowerCase() : "bedrock",
  };
}
