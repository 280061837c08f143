import {
  type AnthropicErrorBody,
  type MessagesUsage,
  type Usage,
  usageToAnthropic,
} from "../core/mod.ts";
import { SseSplitter } from "../providers/mod.ts";
import { messageId, reasoningOf, type Stop, stopOf } from "./from_chat.ts";

/** What the stream's translation needs to know of the request. */
export interface StreamTranslationOptions {
  /** The model the client asked for, which `message_start` names. */
  model: string;
  /** The request's `stop_sequences`, to tell which one stopped the answer. */
  stopSequences?: readonly string[];
  /** Whether the client enabled thinking: only then is an upstream's reasoning streamed. */
  thinking: boolean;
}

type BlockKind = "text" | "thinking" | "tool_use";

interface OpenBlock {
  index: number;
  kind: BlockKind;
}

interface ToolCallDelta {
  index?: unknown;
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

/**
 * Translates OpenAI chat completion chunks into Anthropic's stream events, chunk by chunk:
 * `message_start` and a `ping` at the first chunk, a content block per run of text, of
 * reasoning (when the client enabled thinking) and per tool call, and once the finish reason
 * and the usage are in, `message_delta` and `message_stop`. One block is open at a time, as
 * Anthropic streams them, except that a turn's tool calls stay open together until it ends, so
 * that arguments interleaved across parallel calls each reach their own block.
 */
export class ChatToMessagesEvents {
  readonly #options: StreamTranslationOptions;
  #started = false;
  #ended = false;
  #nextIndex = 0;
  /** The open text or thinking block. */
  #prose: OpenBlock | undefined;
  /** The open tool_use blocks, by the chunk's tool call index. */
  readonly #tools = new Map<number, OpenBlock>();
  #stop: Stop | undefined;
  #usage: Usage | undefined;

  constructor(options: StreamTranslationOptions) {
    this.#options = options;
  }

  /** True once `message_stop` or an `error` event has been produced. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The events for one chunk's data: a JSON chunk, `[DONE]`, or an in-band error. */
  push(data: string): string {
    if (this.#ended) return "";
    if (data === "[DONE]") return this.finish();
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return this.fail("api_error", "The upstream sent a stream event that is not JSON");
    }
    if (typeof chunk !== "object" || chunk === null || Array.isArray(chunk)) return "";
    const record = chunk as Record<string, unknown>;
    if (record.error !== undefined) return this.fail("api_error", errorMessage(record.error));
    let out = this.#start(record.id);
    if (isUsage(record.usage)) this.#usage = record.usage;
    const choice = Array.isArray(record.choices) ? record.choices[0] : undefined;
    if (typeof choice === "object" && choice !== null) {
      out += this.#choice(choice as Record<string, unknown>);
    }
    if (this.#stop && this.#usage) out += this.finish();
    return out;
  }

  /**
   * Ends the message: closes what is open and tells the stop and the usage. Called at `[DONE]`
   * or when the upstream's stream ends, whatever came before.
   */
  finish(): string {
    if (this.#ended) return "";
    let out = this.#start(undefined) + this.#closeAll();
    const stop = this.#stop ?? { reason: "end_turn", sequence: null };
    const usage: MessagesUsage = this.#usage
      ? usageToAnthropic(this.#usage)
      : { input_tokens: 0, output_tokens: 0 };
    out += event("message_delta", {
      type: "message_delta",
      delta: { stop_reason: stop.reason, stop_sequence: stop.sequence },
      usage,
    });
    out += event("message_stop", { type: "message_stop" });
    this.#ended = true;
    return out;
  }

  /** Ends the stream with Anthropic's `error` event, as it tells a failure after the head. */
  fail(type: AnthropicErrorBody["error"]["type"], message: string): string {
    if (this.#ended) return "";
    this.#ended = true;
    const body: AnthropicErrorBody = { type: "error", error: { type, message } };
    return event("error", body);
  }

  #start(id: unknown): string {
    if (this.#started) return "";
    this.#started = true;
    const message = {
      id: messageId(id),
      type: "message",
      role: "assistant",
      model: this.#options.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // Chat tells the usage at the end only: `message_delta` carries it, input included.
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    return event("message_start", { type: "message_start", message }) +
      event("ping", { type: "ping" });
  }

  #choice(choice: Record<string, unknown>): string {
    let out = "";
    const delta = choice.delta;
    if (typeof delta === "object" && delta !== null) {
      const fields = delta as Record<string, unknown>;
      const reasoning = reasoningOf(fields);
      if (this.#options.thinking && reasoning !== "") {
        out += this.#prosePiece("thinking", { type: "thinking_delta", thinking: reasoning });
      }
      if (typeof fields.content === "string" && fields.content !== "") {
        out += this.#prosePiece("text", { type: "text_delta", text: fields.content });
      }
      if (Array.isArray(fields.tool_calls)) {
        for (const call of fields.tool_calls) {
          if (typeof call === "object" && call !== null) out += this.#toolPiece(call);
        }
      }
    }
    if (typeof choice.finish_reason === "string") {
      this.#stop = stopOf(choice, this.#options.stopSequences);
      out += this.#closeAll();
    }
    return out;
  }

  #prosePiece(kind: "text" | "thinking", delta: Record<string, unknown>): string {
    let out = "";
    if (this.#prose?.kind !== kind) {
      out += this.#closeAll();
      const block = kind === "text"
        ? { type: "text", text: "" }
        : { type: "thinking", thinking: "", signature: "" };
      this.#prose = this.#open(kind);
      out += blockStart(this.#prose.index, block);
    }
    return out + blockDelta(this.#prose!.index, delta);
  }

  #toolPiece(call: ToolCallDelta): string {
    const ordinal = typeof call.index === "number" ? call.index : 0;
    let out = "";
    let block = this.#tools.get(ordinal);
    if (block === undefined) {
      const name = call.function?.name;
      // A fragment of a call that never began (or already ended) has no block to go to.
      if (typeof name !== "string") return "";
      out += this.#closeProse();
      block = this.#open("tool_use");
      this.#tools.set(ordinal, block);
      const id = typeof call.id === "string" && call.id !== "" ? call.id : `toolu_${ordinal}`;
      out += blockStart(block.index, { type: "tool_use", id, name, input: {} });
    }
    const fragment = call.function?.arguments;
    if (typeof fragment === "string" && fragment !== "") {
      out += blockDelta(block.index, { type: "input_json_delta", partial_json: fragment });
    }
    return out;
  }

  #open(kind: BlockKind): OpenBlock {
    return { index: this.#nextIndex++, kind };
  }

  #closeProse(): string {
    if (!this.#prose) return "";
    const out = blockStop(this.#prose.index);
    this.#prose = undefined;
    return out;
  }

  #closeAll(): string {
    let out = this.#closeProse();
    for (const block of this.#tools.values()) out += blockStop(block.index);
    this.#tools.clear();
    return out;
  }
}

/**
 * A transform of an OpenAI-format SSE byte stream into Anthropic's event stream, event by event
 * as the chunks arrive: nothing is held back but an event's unfinished text.
 */
export function chatToMessagesStream(
  options: StreamTranslationOptions,
): TransformStream<Uint8Array, Uint8Array> {
  const splitter = new SseSplitter();
  const events = new ChatToMessagesEvents(options);
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const translate = (text: string): string => {
    let out = "";
    for (const { data } of splitter.push(text)) {
      if (data !== undefined) out += events.push(data);
    }
    return out;
  };
  return new TransformStream({
    transform(bytes, controller) {
      const out = translate(decoder.decode(bytes, { stream: true }));
      if (out !== "") controller.enqueue(encoder.encode(out));
    },
    flush(controller) {
      // A last event without its blank line still counts, as a browser's EventSource counts it.
      const out = translate(decoder.decode() + "\n\n") + events.finish();
      if (out !== "") controller.enqueue(encoder.encode(out));
    },
  });
}

function event(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function blockStart(index: number, block: Record<string, unknown>): string {
  return event("content_block_start", { type: "content_block_start", index, content_block: block });
}

function blockDelta(index: number, delta: Record<string, unknown>): string {
  return event("content_block_delta", { type: "content_block_delta", index, delta });
}

function blockStop(index: number): string {
  return event("content_block_stop", { type: "content_block_stop", index });
}

function isUsage(value: unknown): value is Usage {
  return typeof value === "object" && value !== null &&
    typeof (value as Usage).prompt_tokens === "number" &&
    typeof (value as Usage).completion_tokens === "number";
}

function errorMessage(error: unknown): string {
  const message = typeof error === "object" && error !== null
    ? (error as { message?: unknown }).message
    : undefined;
  return typeof message === "string" ? message : "The upstream failed mid-stream";
}
