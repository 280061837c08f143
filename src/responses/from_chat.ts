import { type ChatCompletion, randomId } from "../core/mod.ts";
import type { ResponsesRequest } from "./schema.ts";
import type {
  FunctionCallItem,
  MessageItem,
  OutputItem,
  ResponseObject,
  ResponsesUsage,
} from "./types.ts";

/** A new response id, in OpenAI's `resp_` form. */
export function newResponseId(): string {
  return randomId("resp", 40);
}

/** A new output item id: `msg_` for messages, `fc_` for function calls. */
export function newItemId(type: OutputItem["type"]): string {
  return randomId(type === "message" ? "msg" : "fc", 40);
}

/** What names a response before its answer exists. */
export interface ResponseIdentity {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  /** The model the client asked for: answers name the gateway's model, not the upstream's. */
  model: string;
}

/**
 * A response to `request` with no output yet (`in_progress`): the request's settings echoed as
 * OpenAI echoes them, the frame that the answer fills in.
 */
export function responseShell(
  request: ResponsesRequest,
  identity: ResponseIdentity,
): ResponseObject {
  return {
    id: identity.id,
    object: "response",
    created_at: identity.createdAt,
    status: "in_progress",
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: identity.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: null },
    store: request.store ?? true,
    temperature: request.temperature ?? null,
    text: { format: request.text?.format ?? { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: "disabled",
    usage: null,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

/** How a chat finish reason ends a response. */
export function statusOf(
  finishReason: string | null | undefined,
): Pick<ResponseObject, "status" | "incomplete_details"> {
  if (finishReason === "length") {
    return { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } };
  }
  if (finishReason === "content_filter") {
    return { status: "incomplete", incomplete_details: { reason: "content_filter" } };
  }
  return { status: "completed", incomplete_details: null };
}

/** A chat usage in the Responses API's terms; null when the upstream reported none. */
export function responsesUsageOf(usage: unknown): ResponsesUsage | null {
  if (typeof usage !== "object" || usage === null) return null;
  const chat = usage as {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
    completion_tokens_details?: { reasoning_tokens?: unknown } | null;
  };
  const input = count(chat.prompt_tokens);
  const output = count(chat.completion_tokens);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: count(chat.prompt_tokens_details?.cached_tokens) },
    output_tokens: output,
    output_tokens_details: {
      reasoning_tokens: count(chat.completion_tokens_details?.reasoning_tokens),
    },
    total_tokens: input + output,
  };
}

function count(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0;
}

/**
 * A whole chat completion as the response to `request`: its first choice's text as a `message`
 * item and its tool calls as `function_call` items, the finish reason as the status.
 */
export function fromChatCompletion(
  completion: ChatCompletion,
  request: ResponsesRequest,
  identity: Omit<ResponseIdentity, "model">,
): ResponseObject {
  const response = responseShell(request, { ...identity, model: request.model });
  const choice = Array.isArray(completion.choices) ? completion.choices[0] : undefined;
  const message = (choice?.message ?? {}) as {
    content?: unknown;
    refusal?: unknown;
    tool_calls?: unknown;
  };
  const status = statusOf(choice?.finish_reason);
  const itemStatus = status.status === "completed" ? "completed" : "incomplete";
  const content: MessageItem["content"] = [];
  if (typeof message.content === "string" && message.content !== "") {
    content.push({ type: "output_text", text: message.content, annotations: [] });
  }
  if (typeof message.refusal === "string" && message.refusal !== "") {
    content.push({ type: "refusal", refusal: message.refusal });
  }
  const output: OutputItem[] = [];
  if (content.length > 0) {
    output.push({
      type: "message",
      id: newItemId("message"),
      status: itemStatus,
      role: "assistant",
      content,
    });
  }
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    const item = functionCallOf(call);
    if (item) output.push(item);
  }
  return { ...response, ...status, output, usage: responsesUsageOf(completion.usage) };
}

function functionCallOf(call: unknown): FunctionCallItem | undefined {
  if (typeof call !== "object" || call === null) return undefined;
  const { id, function: fn } = call as { id?: unknown; function?: unknown };
  if (typeof fn !== "object" || fn === null) return undefined;
  const { name, arguments: args } = fn as { name?: unknown; arguments?: unknown };
  if (typeof name !== "string") return undefined;
  return {
    type: "function_call",
    id: newItemId("function_call"),
    call_id: typeof id === "string" ? id : newItemId("function_call"),
    name,
    arguments: typeof args === "string" ? args : "",
    status: "completed",
  };
}
