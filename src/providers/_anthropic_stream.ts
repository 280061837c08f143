import { type ChatCompletionChunk, randomId, usageFromAnthropic } from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { relaySse, SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";
import { scrubSecrets } from "./_upstream_http.ts";
import type { AnthropicStreamEvent, AnthropicUsage } from "./_anthropic_api.ts";
import { classifyErrorType, finishReason } from "./_anthropic_response.ts";

/** Options of an {@linkcode AnthropicStreamTranslator}. */
export interface StreamTranslationOptions {
  /** The model name the chunks carry: the one the client asked for. */
  model: string;
  /** The chunks' `created`, in seconds. */
  created: number;
  /** Whether to end with a usage chunk (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
  /** The upstream key, removed from any upstream text that reaches the client. */
  apiKey?: string;
}

type Delta = ChatCompletionChunk["choices"][0]["delta"];

/**
 * Translates Anthropic's stream events, one at a time, into OpenAI `chat.completion.chunk` SSE
 * text, keeping what a stream's outcome needs: usage (input from `message_start`, output from
 * `message_delta`), the finish reason and the characters produced.
 */
export class AnthropicStreamTranslator {
  readonly #options: StreamTranslationOptions;
  #id = "";
  /** Tool call ordinal (OpenAI's `index`) by Anthropic content block index. */
  readonly #toolCalls = new Map<number, number>();
  readonly #usage: AnthropicUsage = {};
  #finalUsage = false;
  #finishReason: string | undefined;
  #producedChars = 0;
  #error: UpstreamErrorClass | undefined;
  #ended = false;

  constructor(options: StreamTranslationOptions) {
    this.#options = options;
  }

  /** True once the stream is over: after `message_stop`, an `error` event or a failure. */
  get ended(): boolean {
    return this.#ended;
  }

  /** What the stream produced so far; usage only once Anthropic has given its final count. */
  get outcome(): StreamOutcome {
    const outcome: StreamOutcome = { producedChars: this.#producedChars };
    if (this.#finalUsage) outcome.usage = usageFromAnthropic(this.#usage);
    if (this.#finishReason !== undefined) outcome.finishReason = this.#finishReason;
    if (this.#error !== undefined) outcome.error = this.#error;
    return outcome;
  }

  /** The SSE text for one event; empty for events with nothing to tell the client. */
  push(event: AnthropicStreamEvent): string {
    if (this.#ended) return "";
    switch (event.type) {
      case "message_start":
        this.#id = typeof event.message?.id === "string" ? event.message.id : randomId("chatcmpl");
        this.#addUsage(event.message?.usage);
        return this.#chunk({ role: "assistant", content: "" });
      case "content_block_start":
        return this.#blockStart(event);
      case "content_block_delta":
        return this.#blockDelta(event);
      case "message_delta":
        this.#addUsage(event.usage);
        if (event.usage?.output_tokens !== undefined) this.#finalUsage = true;
        if (event.delta?.stop_reason == null) return "";
        this.#finishReason = finishReason(event.delta.stop_reason);
        return this.#chunk({}, this.#finishReason);
      case "message_stop":
        return this.#stop();
      case "error": {
        const detail = scrubSecrets(String(event.error?.message ?? ""), this.#options.apiKey);
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

  #blockStart(event: Extract<AnthropicStreamEvent, { type: "content_block_start" }>): string {
    const block = event.content_block;
    if (block?.type === "text") return this.#text(block.text);
    if (block?.type !== "tool_use") return "";
    const ordinal = this.#toolCalls.size;
    this.#toolCalls.set(event.index, ordinal);
    const name = String(block.name);
    return this.#chunk({
      tool_calls: [{
        index: ordinal,
        id: String(block.id),
        type: "function",
        function: { name, arguments: "" },
      }],
    });
  }

  #blockDelta(event: Extract<AnthropicStreamEvent, { type: "content_block_delta" }>): string {
    const delta = event.delta;
    if (delta?.type === "text_delta") return this.#text(delta.text);
    if (delta?.type !== "input_json_delta") return "";
    const ordinal = this.#toolCalls.get(event.index);
    const fragment = delta.partial_json;
    if (ordinal === undefined || typeof fragment !== "string" || fragment === "") return "";
    this.#producedChars += fragment.length;
    return this.#chunk({ tool_calls: [{ index: ordinal, function: { arguments: fragment } }] });
  }

  #text(text: unknown): string {
    if (typeof text !== "string" || text === "") return "";
    this.#producedChars += text.length;
    return this.#chunk({ content: text });
  }

  #stop(): string {
    this.#ended = true;
    let out = "";
    if (this.#finishReason === undefined) {
      this.#finishReason = "stop";
      out += this.#chunk({}, this.#finishReason);
    }
    this.#finalUsage = true;
    if (this.#options.clientWantsUsage) {
      out += this.#data({
        ...this.#envelope(),
        choices: [],
        usage: usageFromAnthropic(this.#usage),
      });
    }
    return out + "data: [DONE]\n\n";
  }

  #addUsage(usage: AnthropicUsage | undefined): void {
    mergeUsage(this.#usage, usage);
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
  const splitter = new SseSplitter();
  const translator = new AnthropicStreamTranslator(options);
  const translate = (text: string): string => {
    let out = "";
    for (const event of splitter.push(text)) {
      if (event.data === undefined || translator.ended) continue;
      const parsed = parseEvent(event.data);
      out += typeof parsed === "string"
        ? translator.fail("invalid_response", parsed)
        : translator.push(parsed);
    }
    return out;
  };
  return relaySse(upstream, options.signal, {
    push: translate,
    end(text) {
      const out = translate(text);
      if (translator.ended) return out;
      return out + translator.fail(
        "invalid_response",
        "The upstream's stream ended before its last event",
      );
    },
    get ended() {
      return translator.ended;
    },
    fail: (errorClass, message) => translator.fail(errorClass, message),
    cancel: () => translator.cancel(),
    get outcome() {
      return translator.outcome;
    },
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
