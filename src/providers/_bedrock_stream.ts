import { EventStreamCodec, getChunkedStream } from "@smithy/core/event-streams";
import type { Message } from "@smithy/types";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { randomId } from "../core/mod.ts";
import { classifyThrown, UpstreamError } from "./errors.ts";
import type { StreamOutcome } from "./types.ts";
import { ChunkTranslator, type ChunkWriterOptions } from "./_chunk_writer.ts";
import { type PieceSource, relay } from "./_relay.ts";
import { scrubSecrets } from "./_upstream_http.ts";
import type { BedrockStreamEvent, BedrockStreamEvents } from "./_bedrock_api.ts";
import { classifyException, finishReason, usageOf } from "./_bedrock_response.ts";

/**
 * Translates ConverseStream's events, one at a time, into OpenAI `chat.completion.chunk` SSE
 * text. Converse ends with `messageStop` (the stop reason) and then `metadata` (the usage): the
 * finish chunk goes out at the first, the usage chunk and `[DONE]` at the second.
 */
export class BedrockStreamTranslator extends ChunkTranslator<BedrockStreamEvent> {
  /** Tool call ordinal (OpenAI's `index`) by Converse content block index. */
  readonly #toolCalls = new Map<number, number>();

  constructor(options: ChunkWriterOptions) {
    super(options);
    // Converse gives no id: the stream gets one of the gateway's.
    this.writer.id = randomId("chatcmpl");
  }

  /** The SSE text for one event; empty for events with nothing to tell the client. */
  push(event: BedrockStreamEvent): string {
    const writer = this.writer;
    if (writer.ended) return "";
    switch (event.type) {
      case "messageStart":
        return writer.role();
      case "contentBlockStart":
        return this.#blockStart(event.body);
      case "contentBlockDelta":
        return this.#blockDelta(event.body);
      case "messageStop":
        if (writer.finishReason !== undefined) return "";
        return writer.finish(finishReason(event.body.stopReason));
      case "metadata":
        if (event.body.usage) writer.usage = usageOf(event.body.usage);
        return writer.stop();
      default:
        // contentBlockStop and event types Bedrock may add later tell the client nothing.
        return "";
    }
  }

  /** The client's text once the upstream ended: complete only if `metadata` came. */
  end(): string {
    if (this.writer.ended) return "";
    // A stream cut after its stop reason lost only its usage, which the gateway estimates.
    if (this.writer.finishReason !== undefined) return this.writer.stop();
    return this.fail("invalid_response", "The upstream's stream ended before its last event");
  }

  #blockStart(body: BedrockStreamEvents["contentBlockStart"]): string {
    const toolUse = body.start?.toolUse;
    if (!toolUse || typeof body.contentBlockIndex !== "number") return "";
    const ordinal = this.#toolCalls.size;
    this.#toolCalls.set(body.contentBlockIndex, ordinal);
    return this.writer.toolCallStart(ordinal, String(toolUse.toolUseId), String(toolUse.name));
  }

  #blockDelta(body: BedrockStreamEvents["contentBlockDelta"]): string {
    const delta = body.delta;
    if (delta?.text !== undefined) return this.writer.text(delta.text);
    const ordinal = typeof body.contentBlockIndex === "number"
      ? this.#toolCalls.get(body.contentBlockIndex)
      : undefined;
    if (ordinal === undefined) return "";
    return this.writer.toolCallArguments(ordinal, delta?.toolUse?.input);
  }
}

/** Options of {@linkcode relayBedrockStream}. */
export interface BedrockRelayOptions extends ChunkWriterOptions {
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
 * them (lengths, CRCs). The first message is read before anything is answered, so that an
 * exception Bedrock streams before its answer (a throttling, a model error) or a stream with no
 * message fails the call while it can still be retried or fall back; an exception later ends the
 * stream in-band with the error class its name has.
 */
export async function relayBedrockStream(
  upstream: ReadableStream<Uint8Array>,
  options: BedrockRelayOptions,
): Promise<{ body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> }> {
  const source = eventSource(upstream, options);
  let first: Awaited<ReturnType<typeof source.read>>;
  try {
    first = await source.read();
    if (first.done) {
      throw new UpstreamError("invalid_response", "The upstream's stream ended before any event");
    }
  } catch (error) {
    await source.cancel().catch(() => {});
    throw error;
  }
  let primed: typeof first | undefined = first;
  return relay<BedrockStreamEvent>(
    {
      read() {
        const next = primed ?? source.read();
        primed = undefined;
        return Promise.resolve(next);
      },
      cancel: (reason) => source.cancel(reason),
    },
    options.signal,
    new BedrockStreamTranslator(options),
  );
}

/** The events of an event stream, decoded; a failure is thrown as the upstream's error. */
function eventSource(
  upstream: ReadableStream<Uint8Array>,
  options: BedrockRelayOptions,
): PieceSource<BedrockStreamEvent> {
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
  return {
    async read() {
      let message: Message;
      try {
        const next = await messages.next();
        if (next.done) return { done: true };
        message = codec.decode(next.value);
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        const why = "The upstream sent a malformed event stream";
        throw new UpstreamError("invalid_response", why, { cause: error });
      }
      return { done: false, value: eventOf(message, secrets) };
    },
    // Canceling the reader ends a read in flight, which a generator's `return` would wait for.
    cancel: (reason) => reader.cancel(reason),
  };
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
