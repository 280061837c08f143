import { EventStreamCodec, getChunkedStream } from "@smithy/core/event-streams";
import type { Message } from "@smithy/types";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { type ChatCompletionChunk, randomId } from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { classifyThrown, UpstreamError } from "./errors.ts";
import type { StreamOutcome } from "./types.ts";
import { relay } from "./_relay.ts";
import { scrubSecrets } from "./_upstream_http.ts";
import type { BedrockStreamEvent, BedrockStreamEvents, BedrockUsage } from "./_bedrock_api.ts";
import { classifyException, finishReason, usageOf } from "./_bedrock_response.ts";

/** Options of a {@linkcode BedrockStreamTranslator}. */
export interface BedrockStreamOptions {
  /** The model name the chunks carry: the one the client asked for. */
  model: string;
  /** The chunks' `created`, in seconds. */
  created: number;
  /** Whether to end with a usage chunk (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
}

type Delta = ChatCompletionChunk["choices"][0]["delta"];

/**
 * Translates ConverseStream's events, one at a time, into OpenAI `chat.completion.chunk` SSE
 * text, keeping what a stream's outcome needs. Converse ends with `messageStop` (the stop
 * reason) and then `metadata` (the usage): the finish chunk goes out at the first, the usage
 * chunk and `[DONE]` at the second.
 */
export class BedrockStreamTranslator {
  readonly #options: BedrockStreamOptions;
  readonly #id = randomId("chatcmpl");
  /** Tool call ordinal (OpenAI's `index`) by Converse content block index. */
  readonly #toolCalls = new Map<number, number>();
  #usage: BedrockUsage | undefined;
  #finishReason: string | undefined;
  #producedChars = 0;
  #error: UpstreamErrorClass | undefined;
  #ended = false;

  constructor(options: BedrockStreamOptions) {
    this.#options = options;
  }

  /** True once the stream is over: after `metadata`, an exception or a failure. */
  get ended(): boolean {
    return this.#ended;
  }

  /** What the stream produced so far. */
  get outcome(): StreamOutcome {
    const outcome: StreamOutcome = { producedChars: this.#producedChars };
    if (this.#usage) outcome.usage = usageOf(this.#usage);
    if (this.#finishReason !== undefined) outcome.finishReason = this.#finishReason;
    if (this.#error !== undefined) outcome.error = this.#error;
    return outcome;
  }

  /** The SSE text for one event; empty for events with nothing to tell the client. */
  push(event: BedrockStreamEvent): string {
    if (this.#ended) return "";
    switch (event.type) {
      case "messageStart":
        return this.#chunk({ role: "assistant", content: "" });
      case "contentBlockStart":
        return this.#blockStart(event.body);
      case "contentBlockDelta":
        return this.#blockDelta(event.body);
      case "messageStop":
        if (this.#finishReason !== undefined) return "";
        this.#finishReason = finishReason(event.body.stopReason);
        return this.#chunk({}, this.#finishReason);
      case "metadata":
        if (event.body.usage) this.#usage = event.body.usage;
        return this.#stop();
      default:
        // contentBlockStop and event types Bedrock may add later tell the client nothing.
        return "";
    }
  }

  /** The client's text once the upstream ended: complete only if `metadata` came. */
  end(): string {
    if (this.#ended) return "";
    // A stream cut after its stop reason lost only its usage, which the gateway estimates.
    if (this.#finishReason !== undefined) return this.#stop();
    return this.fail("invalid_response", "The upstream's stream ended before its last event");
  }

  /**
   * Ends the stream with an error told the way OpenAI tells it once the status line is gone:
   * in-band, as an `error` object, with no `[DONE]` after it.
   */
  fail(errorClass: UpstreamErrorClass, message: string): string {
    this.#error = errorClass;
    this.#ended = true;
    const body = { error: { message, type: "upstream_error", code: `upstream_${errorClass}` } };
    return `data: ${JSON.stringify(body)}\n\n`;
  }

  /** Marks the stream as canceled by the client; nothing more is sent. */
  cancel(): void {
    this.#error = "canceled";
    this.#ended = true;
  }

  #blockStart(body: BedrockStreamEvents["contentBlockStart"]): string {
    const toolUse = body.start?.toolUse;
    if (!toolUse || typeof body.contentBlockIndex !== "number") return "";
    const ordinal = this.#toolCalls.size;
    this.#toolCalls.set(body.contentBlockIndex, ordinal);
    return this.#chunk({
      tool_calls: [{
        index: ordinal,
        id: String(toolUse.toolUseId),
        type: "function",
        function: { name: String(toolUse.name), arguments: "" },
      }],
    });
  }

  #blockDelta(body: BedrockStreamEvents["contentBlockDelta"]): string {
    const delta = body.delta;
    if (typeof delta?.text === "string") {
      if (delta.text === "") return "";
      this.#producedChars += delta.text.length;
      return this.#chunk({ content: delta.text });
    }
    const fragment = delta?.toolUse?.input;
    const ordinal = typeof body.contentBlockIndex === "number"
      ? this.#toolCalls.get(body.contentBlockIndex)
      : undefined;
    if (ordinal === undefined || typeof fragment !== "string" || fragment === "") return "";
    this.#producedChars += fragment.length;
    return this.#chunk({ tool_calls: [{ index: ordinal, function: { arguments: fragment } }] });
  }

  #stop(): string {
    this.#ended = true;
    let out = "";
    if (this.#finishReason === undefined) {
      this.#finishReason = "stop";
      out += this.#chunk({}, this.#finishReason);
    }
    if (this.#options.clientWantsUsage && this.#usage) {
      out += this.#data({ ...this.#envelope(), choices: [], usage: usageOf(this.#usage) });
    }
    return out + "data: [DONE]\n\n";
  }

  #chunk(delta: Delta, finish: string | null = null): string {
    return this.#data({
      ...this.#envelope(),
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
  }

  #envelope(): Pick<ChatCompletionChunk, "id" | "object" | "created" | "model"> {
    const { created, model } = this.#options;
    return { id: this.#id, object: "chat.completion.chunk", created, model };
  }

  #data(chunk: ChatCompletionChunk): string {
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }
}

/** Options of {@linkcode relayBedrockStream}. */
export interface BedrockRelayOptions extends BedrockStreamOptions {
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
  /** Secrets removed from any upstream text that reaches the client. */
  secrets: string[];
}

const EVENT_TYPES = new Set<string>([
  "messageStart",
  "contentBlockStart",
  "contentBlockDelta",
  "contentBlockStop",
  "messageStop",
  "metadata",
]);

/**
 * Translates a ConverseStream answer (`application/vnd.amazon.eventstream`) into OpenAI's SSE
 * as its messages arrive. The AWS SDK's own event-stream library frames the messages and checks
 * them (lengths, CRCs); an `exception` message ends the stream with the error class its name has.
 */
export function relayBedrockStream(
  upstream: ReadableStream<Uint8Array>,
  options: BedrockRelayOptions,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const reader = upstream.getReader();
  const { signal, secrets } = options;
  async function* bytes(): AsyncGenerator<Uint8Array> {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        throw classifyThrown(error, signal);
      }
      if (next.done) return;
      yield next.value;
    }
  }
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const messages = getChunkedStream(bytes())[Symbol.asyncIterator]();
  const translator = new BedrockStreamTranslator(options);
  return relay<BedrockStreamEvent>(
    {
      async read() {
        let message: Message;
        try {
          const next = await messages.next();
          if (next.done) return { done: true };
          message = codec.decode(next.value);
        } catch (error) {
          if (error instanceof UpstreamError) throw error;
          throw new UpstreamError(
            "invalid_response",
            "The upstream sent a malformed event stream",
            {
              cause: error,
            },
          );
        }
        return { done: false, value: eventOf(message, secrets) };
      },
      // Canceling the reader ends a read in flight, which a generator's `return` would wait for.
      cancel: (reason) => reader.cancel(reason),
    },
    signal,
    {
      push: (event) => translator.push(event),
      end: () => translator.end(),
      get ended() {
        return translator.ended;
      },
      fail: (errorClass, message) => translator.fail(errorClass, message),
      cancel: () => translator.cancel(),
      get outcome() {
        return translator.outcome;
      },
    },
  );
}

/**
 * The event one message holds, by its `:event-type`; an `exception` message (by its
 * `:exception-type`) or an `error` one (by its `:error-code`) is thrown as the upstream's error.
 */
function eventOf(message: Message, secrets: string[]): BedrockStreamEvent {
  const header = (name: string) => {
    const value = message.headers[name]?.value;
    return typeof value === "string" ? value : "";
  };
  const kind = header(":message-type");
  const payload = parsePayload(message.body);
  if (kind === "exception" || kind === "error") {
    const name = header(kind === "exception" ? ":exception-type" : ":error-code") || "unknown";
    const text = kind === "error" ? header(":error-message") : payload?.message;
    const detail = secrets.reduce(
      (scrubbed, secret) => scrubSecrets(scrubbed, secret),
      typeof text === "string" ? text : "",
    );
    throw new UpstreamError(
      classifyException(name) ?? "server_error",
      `The upstream failed mid-stream (${name}): ${detail.slice(0, 1000)}`,
    );
  }
  const type = header(":event-type");
  if (kind !== "event" || !EVENT_TYPES.has(type)) return { type: "unknown", name: type };
  if (payload === undefined) {
    throw new UpstreamError(
      "invalid_response",
      `The upstream sent a ${type} event that is not JSON`,
    );
  }
  return { type, body: payload } as BedrockStreamEvent;
}

function parsePayload(body: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(toUtf8(body));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}
