import {
  type ChatCompletion,
  type MessagesAnswer,
  type MessagesAnswerBlock,
  randomId,
  type StopReason,
  usageToAnthropic,
} from "../core/mod.ts";

/** What the answer's translation needs to know of the request. */
export interface AnswerTranslationOptions {
  /** The model the client asked for, which the answer names. */
  model: string;
  /** The request's `stop_sequences`, to tell which one stopped the answer. */
  stopSequences?: readonly string[];
  /** Whether the client enabled thinking: only then is an upstream's reasoning shown. */
  thinking: boolean;
}

/** A stop as a Messages answer tells it. */
export interface Stop {
  reason: StopReason;
  sequence: string | null;
}

/**
 * Translates a whole chat completion (its first choice) into a Messages answer: reasoning (as
 * DeepSeek, vLLM and OpenRouter return it, `reasoning_content` or `reasoning`) into a thinking
 * block when the client enabled thinking, the text into a text block, each tool call into a
 * `tool_use` block, the finish reason into a stop reason, the usage into Anthropic's counts.
 */
export function chatToMessage(
  completion: ChatCompletion,
  options: AnswerTranslationOptions,
): MessagesAnswer {
  const choice = Array.isArray(completion.choices) ? completion.choices[0] : undefined;
  const message = choice?.message;
  const content: MessagesAnswerBlock[] = [];
  const reasoning = reasoningOf(message);
  if (options.thinking && reasoning) {
    content.push({ type: "thinking", thinking: reasoning, signature: "" });
  }
  if (typeof message?.content === "string" && message.content !== "") {
    content.push({ type: "text", text: message.content });
  }
  for (const call of toolCallsOf(message)) {
    content.push({ type: "tool_use", id: call.id, name: call.name, input: toolInput(call.args) });
  }
  const stop = stopOf(choice, options.stopSequences);
  return {
    id: messageId(completion.id),
    type: "message",
    role: "assistant",
    model: options.model,
    content,
    stop_reason: stop.reason,
    stop_sequence: stop.sequence,
    usage: completion.usage
      ? usageToAnthropic(completion.usage)
      : { input_tokens: 0, output_tokens: 0 },
  };
}

/**
 * Anthropic's stop for a chat choice: `length` is `max_tokens`, tool calls are `tool_use`, a
 * filtered answer is a `refusal`; a plain stop is `stop_sequence` only when the upstream says
 * which of the request's sequences matched (vLLM's `stop_reason`), else `end_turn`.
 */
export function stopOf(
  choice: { finish_reason?: unknown; stop_reason?: unknown } | undefined,
  stopSequences: readonly string[] | undefined,
): Stop {
  switch (choice?.finish_reason) {
    case "length":
      return { reason: "max_tokens", sequence: null };
    case "tool_calls":
    case "function_call":
      return { reason: "tool_use", sequence: null };
    case "content_filter":
      return { reason: "refusal", sequence: null };
  }
  const matched = choice?.stop_reason;
  if (typeof matched === "string" && stopSequences?.includes(matched)) {
    return { reason: "stop_sequence", sequence: matched };
  }
  return { reason: "end_turn", sequence: null };
}

/** The reasoning text of a chat message or delta, under either name upstreams give it. */
export function reasoningOf(message: Record<string, unknown> | undefined): string {
  const reasoning = message?.reasoning_content ?? message?.reasoning;
  return typeof reasoning === "string" ? reasoning : "";
}

/** A tool's input from its call's JSON arguments; arguments that are no JSON object are kept. */
export function toolInput(args: string): Record<string, unknown> {
  if (args.trim() === "") return {};
  try {
    const input = JSON.parse(args);
    if (typeof input === "object" && input !== null && !Array.isArray(input)) return input;
  } catch {
    // Kept below, so that the client sees what the model wrote.
  }
  return { arguments: args };
}

/** A Messages id for a chat completion's id. */
export function messageId(id: unknown): string {
  if (typeof id !== "string" || id === "") return randomId("msg");
  return id.startsWith("msg_") ? id : `msg_${id}`;
}

function toolCallsOf(
  message: Record<string, unknown> | undefined,
): Array<{ id: string; name: string; args: string }> {
  const calls = message?.tool_calls;
  if (!Array.isArray(calls)) return [];
  return calls.flatMap((call) => {
    if (typeof call !== "object" || call === null) return [];
    const fn = (call as { function?: { name?: unknown; arguments?: unknown } }).function;
    if (typeof fn?.name !== "string") return [];
    const id = (call as { id?: unknown }).id;
    return [{
      id: typeof id === "string" && id !== "" ? id : randomId("toolu"),
      name: fn.name,
      args: typeof fn.arguments === "string" ? fn.arguments : "",
    }];
  });
}
