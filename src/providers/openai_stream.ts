import type { ChatCompletionChunk, Usage } from "../core/mod.ts";
import { relaySse, SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";

/** Options of {@linkcode relayOpenAIStream}. */
export interface RelayOptions {
  /** Whether the client asked for the usage chunk; if not, the one we requested is dropped. */
  clientWantsUsage: boolean;
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
}

/**
 * Relays an OpenAI-format SSE stream (chat completion or legacy completion chunks) event by
 * event, untouched, while a parser watches a copy for usage and the finish reason.
 */
export function relayOpenAIStream(
  upstream: ReadableStream<Uint8Array>,
  options: RelayOptions,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const splitter = new SseSplitter();
  const outcome: StreamOutcome = { producedChars: 0 };
  const forward = (text: string): string => {
    let out = "";
    for (const event of splitter.push(text)) {
      if (!observe(event.data, outcome) || options.clientWantsUsage) out += event.raw;
    }
    return out;
  };
  return relaySse(upstream, options.signal, {
    push: forward,
    end: (text) => forward(text) + splitter.pending,
    ended: false,
    fail(errorClass, message) {
      outcome.error = errorClass;
      // The status line is long gone, so the failure is told the way OpenAI tells it: in-band.
      const body = { error: { message, type: "upstream_error", code: `upstream_${errorClass}` } };
      return `data: ${JSON.stringify(body)}\n\n`;
    },
    cancel() {
      outcome.error = "canceled";
    },
    outcome,
  });
}

/** One chunk of a chat or legacy completions stream, as far as the relay reads it. */
interface StreamChunk {
  usage?: Usage | null;
  choices?: Array<{
    finish_reason?: string | null;
    /** A chat chunk's addition. */
    delta?: ChatCompletionChunk["choices"][0]["delta"];
    /** A legacy completion chunk's addition. */
    text?: unknown;
  }>;
}

/** Reads usage and finish reason from one event's data; true when it is a usage-only chunk. */
function observe(data: string | undefined, outcome: StreamOutcome): boolean {
  if (data === undefined || data === "[DONE]" || !data.startsWith("{")) return false;
  let chunk: StreamChunk;
  try {
    chunk = JSON.parse(data);
  } catch {
    return false;
  }
  if (chunk.usage) outcome.usage = chunk.usage;
  for (const choice of chunk.choices ?? []) {
    if (choice.finish_reason) outcome.finishReason = choice.finish_reason;
    outcome.producedChars += deltaChars(choice.delta);
    if (typeof choice.text === "string") outcome.producedChars += choice.text.length;
  }
  return Boolean(chunk.usage) && Array.isArray(chunk.choices) && chunk.choices.length === 0;
}

/** The text a chat delta adds: its content and the arguments of its tool calls. */
function deltaChars(delta: ChatCompletionChunk["choices"][0]["delta"] | undefined): number {
  if (!delta) return 0;
  let chars = typeof delta.content === "string" ? delta.content.length : 0;
  const toolCalls = delta.tool_calls;
  if (Array.isArray(toolCalls)) {
    for (const call of toolCalls) {
      const args = (call as { function?: { arguments?: unknown } }).function?.arguments;
      if (typeof args === "string") chars += args.length;
    }
  }
  return chars;
}
