import type { ChatCompletionChunk, Usage } from "../core/mod.ts";
import { classifyThrown } from "./errors.ts";
import { SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";

/** Options of {@linkcode relayOpenAIStream}. */
export interface RelayOptions {
  /** Whether the client asked for the usage chunk; if not, the one we requested is dropped. */
  clientWantsUsage: boolean;
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
}

/**
 * Relays an OpenAI-format SSE stream (chat completion or legacy completion chunks) event by event, untouched, while a parser watches a copy for
 * usage and the finish reason. Pull-based, so a slow client slows the upstream read instead of
 * filling memory; canceling the result cancels the upstream.
 */
export function relayOpenAIStream(
  upstream: ReadableStream<Uint8Array>,
  options: RelayOptions,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const reader = upstream.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const splitter = new SseSplitter();
  const outcome: StreamOutcome = { producedChars: 0 };
  let settle: (value: StreamOutcome) => void = () => {};
  const settled = new Promise<StreamOutcome>((resolve) => settle = resolve);

  const forward = (text: string): string => {
    let out = "";
    for (const event of splitter.push(text)) {
      if (!observe(event.data, outcome) || options.clientWantsUsage) out += event.raw;
    }
    return out;
  };

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            const rest = forward(decoder.decode()) + splitter.pending;
            if (rest.length > 0) controller.enqueue(encoder.encode(rest));
            controller.close();
            settle(outcome);
            return;
          }
          const out = forward(decoder.decode(value, { stream: true }));
          if (out.length > 0) {
            controller.enqueue(encoder.encode(out));
            return;
          }
        }
      } catch (error) {
        const failure = classifyThrown(error, options.signal);
        outcome.error = failure.errorClass;
        settle(outcome);
        if (failure.errorClass === "canceled") return controller.error(error);
        // The status line is long gone, so the failure is told the way OpenAI tells it: in-band.
        const body = {
          error: {
            message: failure.message,
            type: "upstream_error",
            code: `upstream_${failure.errorClass}`,
          },
        };
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(body)}\n\n`));
        controller.close();
      }
    },
    async cancel(reason) {
      outcome.error = "canceled";
      settle(outcome);
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return { body, outcome: settled };
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
