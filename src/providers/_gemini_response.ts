import { type ChatCompletion, type ModelInfo, randomId, type Usage } from "../core/mod.ts";
import { ToolCallIds } from "./_gemini_tool_ids.ts";
import { UpstreamError } from "./errors.ts";
import { assistantMessage, type OpenAIToolCall, toolCall } from "./_chat_output.ts";
import type { UpstreamErrorDetail } from "./_upstream_http.ts";
import type {
  GeminiCandidate,
  GeminiErrorBody,
  GeminiFunctionCallPart,
  GeminiModel,
  GeminiPart,
  GeminiResponse,
  GeminiUsageMetadata,
} from "./_gemini_api.ts";

/** OpenAI's usage with the details Gemini's counts give: cached prompt and reasoning tokens. */
export interface GeminiOpenAIUsage extends Usage {
  prompt_tokens_details?: { cached_tokens: number };
  completion_tokens_details?: { reasoning_tokens: number };
}

/** The answer's completion id: Gemini's `responseId` when it gave one. */
export function completionId(response: GeminiResponse): string {
  return typeof response.responseId === "string" && response.responseId !== ""
    ? `chatcmpl-${response.responseId}`
    : randomId("chatcmpl");
}

/**
 * Translates a whole Gemini answer into an OpenAI `chat.completion` named after the model the
 * client asked for: one choice per candidate, text parts joined into `content` (thoughts left
 * out), function calls as `tool_calls`. A prompt Gemini blocked is the client's 400.
 */
export function fromGeminiResponse(
  response: GeminiResponse,
  options: { model: string; created: number },
): ChatCompletion {
  refuseBlockedPrompt(response);
  if (!Array.isArray(response.candidates) || response.candidates.length === 0) {
    throw new UpstreamError("invalid_response", "The upstream's answer has no candidates");
  }
  const ids = new ToolCallIds(response.responseId);
  const completion: ChatCompletion = {
    id: completionId(response),
    object: "chat.completion",
    created: options.created,
    model: options.model,
    choices: response.candidates.map((candidate, position) =>
      choiceOf(candidate, {
        index: typeof candidate.index === "number" ? candidate.index : position,
        ids,
      })
    ),
  };
  if (response.usageMetadata) completion.usage = usageOf(response.usageMetadata);
  return completion;
}

function choiceOf(
  candidate: GeminiCandidate,
  { index, ids }: { index: number; ids: ToolCallIds },
): ChatCompletion["choices"][0] {
  let text: string | null = null;
  const toolCalls: OpenAIToolCall[] = [];
  for (const part of candidate.content?.parts ?? []) {
    if (part.thought === true) continue;
    if (typeof part.text === "string") text = (text ?? "") + part.text;
    else if (callsFunction(part)) toolCalls.push(toolCallOf(part, ids));
  }
  return {
    index,
    message: assistantMessage(text, toolCalls),
    finish_reason: finishReason(candidate.finishReason, toolCalls.length > 0),
  };
}

/** Whether a part calls a function. */
export function callsFunction(part: GeminiPart): part is GeminiFunctionCallPart {
  return typeof part.functionCall === "object" && part.functionCall !== null;
}

/** An OpenAI tool call for a part holding one of Gemini's function calls. */
export function toolCallOf(part: GeminiFunctionCallPart, ids: ToolCallIds): OpenAIToolCall {
  return toolCall(ids.next(part), part.functionCall.name, part.functionCall.args);
}

/** Gemini's reasons for stopping that are a safety or policy filter's. */
const FILTERED = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
]);

/**
 * OpenAI's `finish_reason` for Gemini's `finishReason`. Gemini ends a turn that calls functions
 * with `STOP`, so the calls decide `tool_calls`; a malformed function call, and any reason
 * OpenAI has no word for, end the answer all the same: `stop`.
 */
export function finishReason(reason: string | undefined, calledFunctions: boolean): string {
  if (reason === "MAX_TOKENS") return "length";
  if (reason !== undefined && FILTERED.has(reason)) return "content_filter";
  return calledFunctions ? "tool_calls" : "stop";
}

/**
 * OpenAI's usage: Gemini's prompt count holds its cached tokens (reported as
 * `cached_tokens`) and tool-use prompts are prompt too; thinking is output, as Google bills it.
 */
export function usageOf(usage: GeminiUsageMetadata): GeminiOpenAIUsage {
  const prompt = count(usage.promptTokenCount) + count(usage.toolUsePromptTokenCount);
  const thoughts = count(usage.thoughtsTokenCount);
  const completion = count(usage.candidatesTokenCount) + thoughts;
  const translated: GeminiOpenAIUsage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
  if (usage.cachedContentTokenCount !== undefined) {
    translated.prompt_tokens_details = { cached_tokens: count(usage.cachedContentTokenCount) };
  }
  if (usage.thoughtsTokenCount !== undefined) {
    translated.completion_tokens_details = { reasoning_tokens: thoughts };
  }
  return translated;
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0;
}

/**
 * A prompt Gemini blocked (`promptFeedback.blockReason`, no candidates) is the client's 400
 * with OpenAI's `content_filter` code, naming the reason and the categories rated high.
 */
export function refuseBlockedPrompt(response: GeminiResponse): void {
  const reason = response.promptFeedback?.blockReason;
  if (typeof reason !== "string" || reason === "") return;
  const categories = (response.promptFeedback?.safetyRatings ?? [])
    .filter((rating) =>
      rating.blocked === true || rating.probability === "HIGH" || rating.probability === "MEDIUM"
    )
    .map((rating) => `${rating.category}: ${rating.probability}`);
  const which = categories.length > 0 ? `; ${categories.join(", ")}` : "";
  throw new UpstreamError("client_error", `Gemini blocked the prompt (${reason}${which})`, {
    code: "content_filter",
    param: "messages",
  });
}

/**
 * Reads Google's 4xx body: a key Google refused (it answers 400 `API_KEY_INVALID`) is the
 * gateway's `auth` failure, not the client's; otherwise its message and status go to the client.
 */
export function explainGeminiError(body: unknown): UpstreamErrorDetail | undefined {
  const error = (body as GeminiErrorBody | undefined)?.error;
  if (typeof error?.message !== "string") return undefined;
  const keyRefused = (error.details ?? []).some((detail) =>
    detail?.reason === "API_KEY_INVALID" || detail?.reason === "API_KEY_SERVICE_BLOCKED"
  );
  if (keyRefused) return { message: "Google refused the gateway's key", errorClass: "auth" };
  const status = typeof error.status === "string" ? ` (${error.status})` : "";
  return { message: `${error.message}${status}` };
}

/** An entry of OpenAI's model list for one of Gemini's models: its name without the path. */
export function modelInfo(model: GeminiModel): ModelInfo {
  return {
    id: String(model.name).split("/").at(-1) ?? "",
    object: "model",
    created: 0,
    owned_by: "google",
  };
}
