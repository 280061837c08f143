import { type ChatCompletion, type ModelInfo, usageFromAnthropic } from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { UpstreamError } from "./errors.ts";
import { assistantMessage, type OpenAIToolCall, toolCall } from "./_chat_output.ts";
import type { AnthropicModel, AnthropicResponse } from "./_anthropic_api.ts";

/**
 * Translates a whole Anthropic message into an OpenAI `chat.completion` named after the model
 * the client asked for. Text blocks are joined into `content`; `tool_use` blocks become
 * `tool_calls`; other blocks (thinking, which the gateway never asks for) are left out.
 */
export function fromAnthropicResponse(
  response: AnthropicResponse,
  options: { model: string; created: number },
): ChatCompletion {
  if (typeof response.id !== "string" || !Array.isArray(response.content)) {
    throw new UpstreamError("invalid_response", "The upstream's message has no id or content");
  }
  let text: string | null = null;
  const toolCalls: OpenAIToolCall[] = [];
  for (const block of response.content) {
    if (block.type === "text" && typeof block.text === "string") {
      text = (text ?? "") + block.text;
    } else if (block.type === "tool_use") {
      toolCalls.push(toolCall(block.id, block.name, block.input));
    }
  }
  const message = assistantMessage(text, toolCalls);
  const completion: ChatCompletion = {
    id: response.id,
    object: "chat.completion",
    created: options.created,
    model: options.model,
    choices: [{ index: 0, message, finish_reason: finishReason(response.stop_reason) }],
  };
  if (response.usage) completion.usage = usageFromAnthropic(response.usage);
  return completion;
}

/**
 * OpenAI's `finish_reason` for Anthropic's `stop_reason`. A turn paused by a server tool and
 * an unknown reason end the answer all the same: `stop`.
 */
export function finishReason(stopReason: string | null | undefined): string {
  switch (stopReason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return "stop";
  }
}

/** An entry of OpenAI's model list for one of Anthropic's models. */
export function modelInfo(model: AnthropicModel): ModelInfo {
  const created = model.created_at ? Date.parse(model.created_at) : NaN;
  return {
    id: model.id,
    object: "model",
    created: Number.isFinite(created) ? Math.floor(created / 1000) : 0,
    owned_by: "anthropic",
  };
}

/** The error class of an Anthropic error `type`, as its status would have classified it. */
export function classifyErrorType(type: string | undefined): UpstreamErrorClass {
  switch (type) {
    case "rate_limit_error":
      return "rate_limited";
    case "authentication_error":
    case "permission_error":
      return "auth";
    case "invalid_request_error":
    case "not_found_error":
    case "request_too_large":
      return "client_error";
    case "timeout_error":
      return "timeout";
    default:
      // overloaded_error (HTTP 529), api_error (500) and anything new.
      return "server_error";
  }
}
