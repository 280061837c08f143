import type { ChatCompletionChunk, Usage } from "../core/mod.ts";
import { relaySse, SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";

/** Options of {@linkcode relayOpenAIStream}. */
export interface RelayOptions {
  /** Whether the client asked for the usage chunk; if not, the one we requested is dropped. */
  clientWantsUsage: boolean;
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
  /**
   * Reshapes the chunks of an upstream that adds events of its own to OpenAI's (one per stream,
   * so it may keep state); the usage and finish reason are read before, either way.
   */
  shape?: ChunkShaper;
}

/**
 * One stream's chunk as the client gets it: the same object to relay its bytes untouched, another
 * to send that instead, undefined to drop it.
 */
export type ChunkShaper = (
  chunk: Readonly<Record<string, unknown>>,
) => Readonly<Record<string, unknown>> | undefined;

/**
 * Relays an OpenAI-format SSE stream (chat completion or legacy completion chunks) event by
 * event, untouched unless `shape` says otherwise, while a parser watches a copy for usage and the finish reason.
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
      const chunk = parseChunk(event.data);
      if (chunk === undefined) {
        out += event.raw;
        continue;
      }
      if (observe(chunk, outcome)) {
        if (options.clientWantsUsage) out += event.raw;
        continue;
      }
      const shaped = options.shape ? options.shape(chunk) : chunk;
      if (shaped === chunk) out += event.raw;
      else if (shaped !== undefined) out += `data: ${JSON.stringify(shaped)}\n\n`;
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

/** One event's data as a JSON object; undefined for `[DONE]` or anything else. */
function parseChunk(data: string | undefined): Record<string, unknown> | undefined {
  if (data === undefined || !data.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(data);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Reads usage and finish reason from one chunk; true when it is a usage-only chunk. */
function observe(value: Record<string, unknown>, outcome: StreamOutcome): boolean {
  const chunk = value as StreamChunk;
  if (chunk.usage) outcome.usage = chunk.usage;
  const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
  for (const choice of choices) {
    if (typeof choice !== "object" || choice === null) continue;
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
