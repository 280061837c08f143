import { relaySse, SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";

/** The events that end a Responses stream, each carrying the whole response and its usage. */
const TERMINAL_EVENTS = new Set(["response.completed", "response.incomplete", "response.failed"]);

/** The events whose `delta` is generated text, counted to estimate a usage that never came. */
const DELTA_EVENTS = new Set([
  "response.output_text.delta",
  "response.function_call_arguments.delta",
]);

/**
 * Relays a native Responses API stream untouched, while a parser watches a copy of it for the
 * usage of its terminal event (`response.completed`, or `incomplete` / `failed`) and the text it
 * generated.
 */
export function relayResponsesStream(
  upstream: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const splitter = new SseSplitter();
  const outcome: StreamOutcome = { producedChars: 0 };
  const watch = (text: string): string => {
    for (const event of splitter.push(text)) observe(event.data, outcome);
    return text;
  };
  return relaySse(upstream, signal, {
    push: watch,
    end: watch,
    ended: false,
    fail(errorClass, message) {
      outcome.error = errorClass;
      // The Responses API's own in-band error event, since the status line is long gone.
      const event = { type: "error", code: `upstream_${errorClass}`, message, param: null };
      return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
    },
    cancel() {
      outcome.error = "canceled";
    },
    outcome,
  });
}

function observe(data: string | undefined, outcome: StreamOutcome): void {
  if (data === undefined || !data.startsWith("{")) return;
  let event: { type?: unknown; delta?: unknown; response?: { usage?: unknown; status?: unknown } };
  try {
    event = JSON.parse(data);
  } catch {
    return;
  }
  if (typeof event.type !== "string") return;
  if (DELTA_EVENTS.has(event.type) && typeof event.delta === "string") {
    outcome.producedChars += event.delta.length;
  } else if (TERMINAL_EVENTS.has(event.type)) {
    const usage = chatUsageOf(event.response?.usage);
    if (usage) outcome.usage = usage;
    if (typeof event.response?.status === "string") outcome.finishReason = event.response.status;
  }
}

/** A Responses usage (`input_tokens`, `output_tokens`) in chat's terms; undefined if malformed. */
export function chatUsageOf(usage: unknown): StreamOutcome["usage"] {
  if (typeof usage !== "object" || usage === null) return undefined;
  const { input_tokens: input, output_tokens: output } = usage as Record<string, unknown>;
  if (!isTokenCount(input) || !isTokenCount(output)) return undefined;
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

function isTokenCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}
