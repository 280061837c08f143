import type { ChatCompletionChunk } from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { classifyStatus, classifyThrown, UpstreamError } from "./errors.ts";
import { relaySse, SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";
import { scrubSecrets } from "./_upstream_http.ts";
import type { GeminiErrorBody, GeminiResponse, GeminiUsageMetadata } from "./_gemini_api.ts";
import {
  callsFunction,
  completionId,
  finishReason,
  refuseBlockedPrompt,
  toolCallOf,
  usageOf,
} from "./_gemini_response.ts";
import { ToolCallIds } from "./_gemini_tool_ids.ts";

/** Options of a {@linkcode GeminiStreamTranslator}. */
export interface GeminiStreamOptions {
  /** The model name the chunks carry: the one the client asked for. */
  model: string;
  /** The chunks' `created`, in seconds. */
  created: number;
  /** Whether to end with a usage chunk (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
  /** The upstream key, removed from any upstream text that reaches the client. */
  apiKey?: string;
}

/** One event of the stream: an answer's next piece, or an error told in-band. */
export type GeminiStreamEvent = GeminiResponse & GeminiErrorBody;

type Delta = ChatCompletionChunk["choices"][0]["delta"];

interface ChoiceState {
  /** Tool calls sent so far, OpenAI's `index` of the next one. */
  toolCalls: number;
  finishReason?: string;
}

/**
 * Translates Gemini's stream events, one at a time, into OpenAI `chat.completion.chunk` SSE
 * text, keeping what a stream's outcome needs. Each Gemini event is a piece of the answer with
 * the usage so far; the stream is complete when the upstream ends after every candidate gave
 * its finish reason, and only then is the last usage final.
 */
export class GeminiStreamTranslator {
  readonly #options: GeminiStreamOptions;
  #id: string | undefined;
  #ids: ToolCallIds | undefined;
  readonly #choices = new Map<number, ChoiceState>();
  #usage: GeminiUsageMetadata | undefined;
  #finalUsage = false;
  #producedChars = 0;
  #error: UpstreamErrorClass | undefined;
  #ended = false;

  constructor(options: GeminiStreamOptions) {
    this.#options = options;
  }

  /** True once the stream is over: after its end, an error event or a failure. */
  get ended(): boolean {
    return this.#ended;
  }

  /** What the stream produced so far; usage only once the stream completed. */
  get outcome(): StreamOutcome {
    const outcome: StreamOutcome = { producedChars: this.#producedChars };
    if (this.#finalUsage && this.#usage) outcome.usage = usageOf(this.#usage);
    const first = this.#choices.get(0)?.finishReason;
    if (first !== undefined) outcome.finishReason = first;
    if (this.#error !== undefined) outcome.error = this.#error;
    return outcome;
  }

  /** The SSE text for one event; empty for events with nothing to tell the client. */
  push(event: GeminiStreamEvent): string {
    if (this.#ended) return "";
    if (event.error) return this.#upstreamError(event.error);
    if (typeof event.promptFeedback?.blockReason === "string") {
      return this.fail(
        "client_error",
        `Gemini blocked the prompt (${event.promptFeedback.blockReason})`,
      );
    }
    this.#id ??= completionId(event);
    this.#ids ??= new ToolCallIds(event.responseId);
    if (event.usageMetadata) this.#usage = event.usageMetadata;
    let out = "";
    (event.candidates ?? []).forEach((candidate, position) => {
      const index = typeof candidate.index === "number" ? candidate.index : position;
      out += this.#candidate(index, candidate);
    });
    return out;
  }

  /**
   * The client's text once the upstream ended: the usage chunk and `[DONE]` when every candidate
   * finished, an in-band error when the stream broke off before.
   */
  end(): string {
    if (this.#ended) return "";
    const choices = [...this.#choices.values()];
    if (choices.length === 0 || choices.some((choice) => choice.finishReason === undefined)) {
      return this.fail("invalid_response", "The upstream's stream ended before its last event");
    }
    this.#ended = true;
    this.#finalUsage = true;
    let out = "";
    if (this.#options.clientWantsUsage && this.#usage) {
      out += this.#data({ ...this.#envelope(), choices: [], usage: usageOf(this.#usage) });
    }
    return out + "data: [DONE]\n\n";
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

  #candidate(index: number, candidate: NonNullable<GeminiResponse["candidates"]>[0]): string {
    let choice = this.#choices.get(index);
    const starting = choice === undefined;
    if (choice === undefined) {
      choice = { toolCalls: 0 };
      this.#choices.set(index, choice);
    }
    let text = "";
    const toolCalls: Array<Record<string, unknown>> = [];
    for (const part of candidate.content?.parts ?? []) {
      if (part.thought === true) continue;
      if (typeof part.text === "string") text += part.text;
      else if (callsFunction(part) && this.#ids) {
        const call = toolCallOf(part, this.#ids);
        this.#producedChars += call.function.arguments.length;
        toolCalls.push({ index: choice.toolCalls++, ...call });
      }
    }
    this.#producedChars += text.length;
    // A choice's first chunk names the role, as OpenAI's do.
    const delta: Delta = starting ? { role: "assistant", content: text } : {};
    if (!starting && text !== "") delta.content = text;
    if (toolCalls.length > 0) delta.tool_calls = toolCalls;
    let out = Object.keys(delta).length > 0
      ? this.#chunk({ index, delta, finish_reason: null })
      : "";
    if (typeof candidate.finishReason === "string" && choice.finishReason === undefined) {
      choice.finishReason = finishReason(candidate.finishReason, choice.toolCalls > 0);
      out += this.#chunk({ index, delta: {}, finish_reason: choice.finishReason });
    }
    return out;
  }

  #upstreamError(error: NonNullable<GeminiErrorBody["error"]>): string {
    const detail = scrubSecrets(String(error.message ?? ""), this.#options.apiKey);
    const status = typeof error.status === "string" ? error.status : "error";
    const errorClass = typeof error.code === "number" ? classifyStatus(error.code) : "server_error";
    return this.fail(
      errorClass,
      `The upstream failed mid-stream (${status}): ${detail.slice(0, 1000)}`,
    );
  }

  #chunk(choice: ChatCompletionChunk["choices"][0]): string {
    return this.#data({ ...this.#envelope(), choices: [choice] });
  }

  #envelope(): Pick<ChatCompletionChunk, "id" | "object" | "created" | "model"> {
    const { created, model } = this.#options;
    return { id: this.#id ?? "", object: "chat.completion.chunk", created, model };
  }

  #data(chunk: ChatCompletionChunk): string {
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }
}

/** Options of {@linkcode relayGeminiStream}. */
export interface GeminiRelayOptions extends GeminiStreamOptions {
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
}

/** Translates a Gemini `alt=sse` stream into OpenAI's as its events arrive. */
export function relayGeminiStream(
  upstream: ReadableStream<Uint8Array>,
  options: GeminiRelayOptions,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const splitter = new SseSplitter();
  const translator = new GeminiStreamTranslator(options);
  const translate = (text: string): string => {
    let out = "";
    for (const event of splitter.push(text)) {
      if (event.data === undefined || translator.ended) continue;
      const parsed = parseGeminiEvent(event.data);
      out += typeof parsed === "string"
        ? translator.fail("invalid_response", parsed)
        : translator.push(parsed);
    }
    return out;
  };
  return relaySse(upstream, options.signal, {
    push: translate,
    end: (text) => translate(text) + translator.end(),
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

/** The event in one `data` field, or why it is not one. */
function parseGeminiEvent(data: string): GeminiStreamEvent | string {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    return "The upstream sent a stream event that is not JSON";
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    return "The upstream sent a stream event that is not an object";
  }
  return event as GeminiStreamEvent;
}

/**
 * Reads a stream up to its first event, so that a prompt Gemini blocked, an error it streams
 * before any answer, or a stream with no event at all fails the call while it can still be
 * retried or told as a status; the stream is given back whole, the first event included.
 */
export async function refuseFailedStart(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const splitter = new SseSplitter();
  const decoder = new TextDecoder();
  const read: Uint8Array[] = [];
  let first: GeminiStreamEvent | string | undefined;
  try {
    while (first === undefined) {
      const { done, value } = await reader.read();
      if (done) break;
      read.push(value);
      const event = splitter.push(decoder.decode(value, { stream: true }))
        .find((one) => one.data !== undefined);
      if (event?.data !== undefined) first = parseGeminiEvent(event.data);
    }
  } catch (error) {
    throw classifyThrown(error, signal);
  }
  try {
    if (first === undefined) {
      throw new UpstreamError("invalid_response", "The upstream's stream ended before any event");
    }
    if (typeof first === "string") throw new UpstreamError("invalid_response", first);
    refuseBlockedPrompt(first);
    if (first.error) {
      const code = typeof first.error.code === "number" ? first.error.code : 500;
      throw new UpstreamError(classifyStatus(code), "The upstream failed before its answer", {
        status: code,
      });
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of read) controller.enqueue(chunk);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
