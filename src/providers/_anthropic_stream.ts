import { randomId, usageFromAnthropic } from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { relaySse, relaySseEvents, SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";
import { ChunkTranslator, type ChunkWriterOptions } from "./_chunk_writer.ts";
import { scrubSecrets } from "./_upstream_http.ts";
import type { AnthropicStreamEvent, AnthropicUsage } from "./_anthropic_api.ts";
import { classifyErrorType, finishReason } from "./_anthropic_response.ts";

/** Options of an {@linkcode AnthropicStreamTranslator}. */
export interface StreamTranslationOptions extends ChunkWriterOptions {
  /** The upstream key, removed from any upstream text that reaches the client. */
  apiKey?: string;
}

/**
 * Translates Anthropic's stream events, one at a time, into OpenAI `chat.completion.chunk` SSE
 * text; usage comes in two parts, input from `message_start` and output from `message_delta`,
 * and the outcome tells it once Anthropic has given its final count. The stream is over after
 * `message_stop`, an `error` event or a failure.
 */
export class AnthropicStreamTranslator extends ChunkTranslator<AnthropicStreamEvent> {
  readonly #apiKey: string | undefined;
  /** Tool call ordinal (OpenAI's `index`) by Anthropic content block index. */
  readonly #toolCalls = new Map<number, number>();
  readonly #usage: AnthropicUsage = {};

  constructor(options: StreamTranslationOptions) {
    super(options);
    this.#apiKey = options.apiKey;
  }

  /** The SSE text for one event; empty for events with nothing to tell the client. */
  push(event: AnthropicStreamEvent): string {
    const writer = this.writer;
    if (writer.ended) return "";
    switch (event.type) {
      case "message_start":
        writer.id = typeof event.message?.id === "string" ? event.message.id : randomId("chatcmpl");
        this.#addUsage(event.message?.usage);
        return writer.role();
      case "content_block_start":
        return this.#blockStart(event);
      case "content_block_delta":
        return this.#blockDelta(event);
      case "message_delta":
        this.#addUsage(event.usage);
        if (event.usage?.output_tokens !== undefined) {
          writer.usage = usageFromAnthropic(this.#usage);
        }
        if (event.delta?.stop_reason == null) return "";
        return writer.finish(finishReason(event.delta.stop_reason));
      case "message_stop":
        writer.usage = usageFromAnthropic(this.#usage);
        return writer.stop();
      case "error": {
        const detail = scrubSecrets(String(event.error?.message ?? ""), this.#apiKey);
        const type = String(event.error?.type ?? "error");
        return this.fail(
          classifyErrorType(event.error?.type),
          `The upstream failed mid-stream (${type}): ${detail.slice(0, 1000)}`,
        );
      }
      default:
        // ping, content_block_stop and event types Anthropic may add later tell the client nothing.
        return "";
    }
  }

  /** The client's text once the upstream ended: an in-band error if it ended before `message_stop`. */
  end(): string {
    if (this.writer.ended) return "";
    return this.fail("invalid_response", "The upstream's stream ended before its last event");
  }

  #blockStart(event: Extract<AnthropicStreamEvent, { type: "content_block_start" }>): string {
    const block = event.content_block;
    if (block?.type === "text") return this.writer.text(block.text);
    if (block?.type !== "tool_use") return "";
    const ordinal = this.#toolCalls.size;
    this.#toolCalls.set(event.index, ordinal);
    return this.writer.toolCallStart(ordinal, String(block.id), String(block.name));
  }

  #blockDelta(event: Extract<AnthropicStreamEvent, { type: "content_block_delta" }>): string {
    const delta = event.delta;
    if (delta?.type === "text_delta") return this.writer.text(delta.text);
    if (delta?.type !== "input_json_delta") return "";
    const ordinal = this.#toolCalls.get(event.index);
    if (ordinal === undefined) return "";
    return this.writer.toolCallArguments(ordinal, delta.partial_json);
  }

  #addUsage(usage: AnthropicUsage | undefined): void {
    mergeUsage(this.#usage, usage);
  }
}

/** Options of {@linkcode relayAnthropicStream}. */
export interface AnthropicRelayOptions extends StreamTranslationOptions {
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
}

/** Translates an Anthropic SSE stream into OpenAI's as its events arrive. */
export function relayAnthropicStream(
  upstream: ReadableStream<Uint8Array>,
  options: AnthropicRelayOptions,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  return relaySseEvents(upstream, {
    signal: options.signal,
    translator: new AnthropicStreamTranslator(options),
    parse: parseEvent,
  });
}

/** Options of {@linkcode passAnthropicStream}. */
export interface AnthropicPassOptions {
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
  /** The upstream key, removed from any error text the gateway adds. */
  apiKey?: string;
}

/**
 * Passes an Anthropic SSE stream to a client of Anthropic's own API, its events' text untouched,
 * while watching them for the usage (input from `message_start`, output from `message_delta`),
 * the stop reason and the characters produced. A break is told as Anthropic tells one: an
 * `error` event.
 */
export function passAnthropicStream(
  upstream: ReadableStream<Uint8Array>,
  options: AnthropicPassOptions,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const splitter = new SseSplitter();
  const usage: AnthropicUsage = {};
  const outcome: StreamOutcome = { producedChars: 0 };
  let finalUsage = false;
  let ended = false;
  const watch = (event: AnthropicStreamEvent) => {
    switch (event.type) {
      case "message_start":
        mergeUsage(usage, event.message?.usage);
        break;
      case "content_block_delta":
        outcome.producedChars += deltaChars(event.delta);
        break;
      case "message_delta":
        mergeUsage(usage, event.usage);
        if (event.usage?.output_tokens !== undefined) finalUsage = true;
        if (event.delta?.stop_reason != null) outcome.finishReason = event.delta.stop_reason;
        break;
      case "message_stop":
        ended = true;
        break;
      case "error":
        outcome.error = classifyErrorType(event.error?.type);
        ended = true;
        break;
    }
  };
  const forward = (text: string): string => {
    const events = splitter.push(text);
    for (const event of events) {
      if (event.data === undefined || ended) continue;
      const parsed = parseEvent(event.data);
      if (typeof parsed !== "string") watch(parsed);
    }
    return events.map((event) => event.raw).join("");
  };
  const fail = (errorClass: UpstreamErrorClass, message: string): string => {
    outcome.error = errorClass;
    ended = true;
    const detail = scrubSecrets(message, options.apiKey);
    const body = { type: "error", error: { type: "api_error", message: detail } };
    return `event: error\ndata: ${JSON.stringify(body)}\n\n`;
  };
  return relaySse(upstream, options.signal, {
    push: forward,
    end(text) {
      const out = forward(text) + splitter.pending;
      if (ended) return out;
      return out + fail("invalid_response", "The upstream's stream ended before its last event");
    },
    get ended() {
      return ended;
    },
    fail,
    cancel() {
      outcome.error = "canceled";
      ended = true;
    },
    get outcome() {
      if (finalUsage) outcome.usage = usageFromAnthropic(usage);
      return outcome;
    },
  });
}

/** Adds the counts `usage` has to `into`, the later count of a field replacing the earlier. */
function mergeUsage(into: AnthropicUsage, usage: AnthropicUsage | undefined): void {
  if (!usage) return;
  for (const key of Object.keys(usage) as Array<keyof AnthropicUsage>) {
    const value = usage[key];
    if (typeof value === "number") into[key] = value;
  }
}

/** Characters a content block delta adds: text, thinking or a tool's input JSON. */
function deltaChars(delta: { text?: unknown; partial_json?: unknown; thinking?: unknown }): number {
  for (const piece of [delta?.text, delta?.partial_json, delta?.thinking]) {
    if (typeof piece === "string") return piece.length;
  }
  return 0;
}

/** The event in one `data` field, or why it is not one. */
function parseEvent(data: string): AnthropicStreamEvent | string {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    return "The upstream sent a stream event that is not JSON";
  }
  if (
    typeof event !== "object" || event === null || typeof Reflect.get(event, "type") !== "string"
  ) {
    return "The upstream sent a stream event with no type";
  }
  return event as AnthropicStreamEvent;
}
