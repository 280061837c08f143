import { classifyStatus, classifyThrown, UpstreamError } from "./errors.ts";
import { relaySseEvents, SseSplitter } from "./sse.ts";
import type { StreamOutcome } from "./types.ts";
import {
  type ChunkDelta,
  ChunkTranslator,
  type ChunkWriterOptions,
  type ToolCallDelta,
} from "./_chunk_writer.ts";
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
export interface GeminiStreamOptions extends ChunkWriterOptions {
  /** The upstream key, removed from any upstream text that reaches the client. */
  apiKey?: string;
}

/** One event of the stream: an answer's next piece, or an error told in-band. */
export type GeminiStreamEvent = GeminiResponse & GeminiErrorBody;

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
export class GeminiStreamTranslator extends ChunkTranslator<GeminiStreamEvent> {
  readonly #apiKey: string | undefined;
  #ids: ToolCallIds | undefined;
  readonly #choices = new Map<number, ChoiceState>();
  #usage: GeminiUsageMetadata | undefined;

  constructor(options: GeminiStreamOptions) {
    super(options);
    this.#apiKey = options.apiKey;
  }

  /** The SSE text for one event; empty for events with nothing to tell the client. */
  push(event: GeminiStreamEvent): string {
    if (this.writer.ended) return "";
    if (event.error) return this.#upstreamError(event.error);
    if (typeof event.promptFeedback?.blockReason === "string") {
      return this.fail(
        "client_error",
        `Gemini blocked the prompt (${event.promptFeedback.blockReason})`,
      );
    }
    if (this.writer.id === "") this.writer.id = completionId(event);
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
    if (this.writer.ended) return "";
    const choices = [...this.#choices.values()];
    if (choices.length === 0 || choices.some((choice) => choice.finishReason === undefined)) {
      return this.fail("invalid_response", "The upstream's stream ended before its last event");
    }
    if (this.#usage) this.writer.usage = usageOf(this.#usage);
    return this.writer.complete();
  }

  #candidate(index: number, candidate: NonNullable<GeminiResponse["candidates"]>[0]): string {
    let choice = this.#choices.get(index);
    const starting = choice === undefined;
    if (choice === undefined) {
      choice = { toolCalls: 0 };
      this.#choices.set(index, choice);
    }
    let text = "";
    const toolCalls: ToolCallDelta[] = [];
    for (const part of candidate.content?.parts ?? []) {
      if (part.thought === true) continue;
      if (typeof part.text === "string") text += part.text;
      else if (callsFunction(part) && this.#ids) {
        toolCalls.push({ index: choice.toolCalls++, ...toolCallOf(part, this.#ids) });
      }
    }
    // A choice's first chunk names the role, as OpenAI's do; Gemini's pieces go out whole.
    const delta: ChunkDelta = starting ? { role: "assistant", content: text } : {};
    if (!starting && text !== "") delta.content = text;
    if (toolCalls.length > 0) delta.tool_calls = toolCalls;
    let out = Object.keys(delta).length > 0 ? this.writer.delta(delta, index) : "";
    if (typeof candidate.finishReason === "string" && choice.finishReason === undefined) {
      choice.finishReason = finishReason(candidate.finishReason, choice.toolCalls > 0);
      out += this.writer.finish(choice.finishReason, index);
    }
    return out;
  }

  #upstreamError(error: NonNullable<GeminiErrorBody["error"]>): string {
    const detail = scrubSecrets(String(error.message ?? ""), this.#apiKey);
    const status = typeof error.status === "string" ? error.status : "error";
    const errorClass = typeof error.code === "number" ? classifyStatus(error.code) : "server_error";
    return this.fail(
      errorClass,
      `The upstream failed mid-stream (${status}): ${detail.slice(0, 1000)}`,
    );
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
  return relaySseEvents(upstream, {
    signal: options.signal,
    translator: new GeminiStreamTranslator(options),
    parse: parseGeminiEvent,
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
