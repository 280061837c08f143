import type { ChatCompletionChunk, Usage } from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import type { StreamOutcome } from "./types.ts";
import type { Translation } from "./_relay.ts";

/** Options of a {@linkcode ChunkWriter}. */
export interface ChunkWriterOptions {
  /** The model name the chunks carry: the one the client asked for. */
  model: string;
  /** The chunks' `created`, in seconds. */
  created: number;
  /** Whether to end with a usage chunk (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
}

/** A tool call's piece of a chunk: its opening (id, name), a fragment of its arguments, or both. */
export interface ToolCallDelta {
  /** Its place among the choice's tool calls. */
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

/**
 * What a chunk tells of a choice: its role (the first chunk), text, tool calls. A type, not an
 * interface, so that it is one of the chunk's open-ended deltas.
 */
export type ChunkDelta = {
  role?: "assistant";
  content?: string;
  tool_calls?: ToolCallDelta[];
};

/**
 * Writes an OpenAI `chat.completion.chunk` stream's SSE text for the translators of other
 * upstreams' streams, keeping what the stream's outcome needs: the usage, the finish reason
 * (the first choice's, where there are several), the characters produced, how it ended.
 */
export class ChunkWriter {
  readonly #options: ChunkWriterOptions;
  /** The chunks' `id`, which some upstreams tell only in their first event. */
  id = "";
  /** The usage the outcome and the usage chunk tell, once the upstream has given it. */
  usage: Usage | undefined;
  #finishReason: string | undefined;
  #producedChars = 0;
  #error: UpstreamErrorClass | undefined;
  #ended = false;

  constructor(options: ChunkWriterOptions) {
    this.#options = options;
  }

  /** True once the stream is over: complete, failed or canceled. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The finish reason sent for the first choice, if any. */
  get finishReason(): string | undefined {
    return this.#finishReason;
  }

  /** What the stream produced so far. */
  get outcome(): StreamOutcome {
    const outcome: StreamOutcome = { producedChars: this.#producedChars };
    if (this.usage) outcome.usage = this.usage;
    if (this.#finishReason !== undefined) outcome.finishReason = this.#finishReason;
    if (this.#error !== undefined) outcome.error = this.#error;
    return outcome;
  }

  /** The first chunk: the assistant's role. */
  role(): string {
    return this.delta({ role: "assistant", content: "" });
  }

  /** A content chunk; nothing for empty or missing text. */
  text(text: unknown): string {
    if (typeof text !== "string" || text === "") return "";
    return this.delta({ content: text });
  }

  /** The chunk that opens the tool call `index` (its place among the answer's tool calls). */
  toolCallStart(index: number, id: string, name: string): string {
    return this.delta({
      tool_calls: [{ index, id, type: "function", function: { name, arguments: "" } }],
    });
  }

  /** A fragment of the tool call `index`'s arguments; nothing for an empty one. */
  toolCallArguments(index: number, fragment: unknown): string {
    if (typeof fragment !== "string" || fragment === "") return "";
    return this.delta({ tool_calls: [{ index, function: { arguments: fragment } }] });
  }

  /**
   * A chunk of choice `choice` telling `delta` as it is, for upstreams whose events hold several
   * of its pieces at once; its text and tool call arguments count as produced.
   */
  delta(delta: ChunkDelta, choice = 0): string {
    this.#producedChars += delta.content?.length ?? 0;
    for (const call of delta.tool_calls ?? []) {
      this.#producedChars += call.function.arguments.length;
    }
    return this.#chunk(delta, null, choice);
  }

  /** The finish chunk of choice `choice`. */
  finish(reason: string, choice = 0): string {
    if (choice === 0) this.#finishReason = reason;
    return this.#chunk({}, reason, choice);
  }

  /** Ends the stream: a finish chunk (`stop`) if none went out, then {@linkcode complete}. */
  stop(): string {
    return (this.#finishReason === undefined ? this.finish("stop") : "") + this.complete();
  }

  /** Ends a stream whose choices all finished: the usage chunk if asked for, `[DONE]`. */
  complete(): string {
    this.#ended = true;
    let out = "";
    if (this.#options.clientWantsUsage && this.usage) {
      out += this.#data({ ...this.#envelope(), choices: [], usage: this.usage });
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

  #chunk(delta: ChunkDelta, finish: string | null, index: number): string {
    return this.#data({ ...this.#envelope(), choices: [{ index, delta, finish_reason: finish }] });
  }

  #envelope(): Pick<ChatCompletionChunk, "id" | "object" | "created" | "model"> {
    const { created, model } = this.#options;
    return { id: this.id, object: "chat.completion.chunk", created, model };
  }

  #data(chunk: ChatCompletionChunk): string {
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }
}

/**
 * The base of a translator of another upstream's stream events into OpenAI chunks, written by
 * its {@linkcode ChunkWriter}, which knows when the stream is over and how it went.
 */
export abstract class ChunkTranslator<Event> implements Translation<Event> {
  /** Writes the translated chunks. */
  protected readonly writer: ChunkWriter;

  constructor(options: ChunkWriterOptions) {
    this.writer = new ChunkWriter(options);
  }

  /** True once the stream is over: complete, failed or canceled. */
  get ended(): boolean {
    return this.writer.ended;
  }

  /** What the stream produced so far. */
  get outcome(): StreamOutcome {
    return this.writer.outcome;
  }

  /** The SSE text for one event; empty for events with nothing to tell the client. */
  abstract push(event: Event): string;

  /** The client's text once the upstream ended. */
  abstract end(): string;

  /** Ends the stream with an in-band error event. */
  fail(errorClass: UpstreamErrorClass, message: string): string {
    return this.writer.fail(errorClass, message);
  }

  /** Marks the stream as canceled by the client; nothing more is sent. */
  cancel(): void {
    this.writer.cancel();
  }
}
