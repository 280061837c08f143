import type { ChatCompletionChunk, Usage } from "../core/mod.ts";
import type { UpstreamErrorClass } from "../observability/metrics.ts";
import type { StreamOutcome } from "./types.ts";

/** Options of a {@linkcode ChunkWriter}. */
export interface ChunkWriterOptions {
  /** The model name the chunks carry: the one the client asked for. */
  model: string;
  /** The chunks' `created`, in seconds. */
  created: number;
  /** Whether to end with a usage chunk (`stream_options.include_usage`). */
  clientWantsUsage: boolean;
}

type Delta = ChatCompletionChunk["choices"][0]["delta"];

/**
 * Writes an OpenAI `chat.completion.chunk` stream's SSE text for the translators of other
 * upstreams' streams, one choice, keeping what the stream's outcome needs: the usage, the finish
 * reason, the characters produced, how it ended.
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

  /** The finish reason sent, if any. */
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
    return this.#chunk({ role: "assistant", content: "" });
  }

  /** A content chunk; nothing for empty or missing text. */
  text(text: unknown): string {
    if (typeof text !== "string" || text === "") return "";
    this.#producedChars += text.length;
    return this.#chunk({ content: text });
  }

  /** The chunk that opens the tool call `index` (its place among the answer's tool calls). */
  toolCallStart(index: number, id: string, name: string): string {
    return this.#chunk({
      tool_calls: [{ index, id, type: "function", function: { name, arguments: "" } }],
    });
  }

  /** A fragment of the tool call `index`'s arguments; nothing for an empty one. */
  toolCallArguments(index: number, fragment: unknown): string {
    if (typeof fragment !== "string" || fragment === "") return "";
    this.#producedChars += fragment.length;
    return this.#chunk({ tool_calls: [{ index, function: { arguments: fragment } }] });
  }

  /** The finish chunk. */
  finish(reason: string): string {
    this.#finishReason = reason;
    return this.#chunk({}, reason);
  }

  /** Ends the stream: a finish chunk (`stop`) if none went out, the usage chunk, `[DONE]`. */
  stop(): string {
    this.#ended = true;
    let out = this.#finishReason === undefined ? this.finish("stop") : "";
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

  #chunk(delta: Delta, finish: string | null = null): string {
    return this.#data({
      ...this.#envelope(),
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
  }

  #envelope(): Pick<ChatCompletionChunk, "id" | "object" | "created" | "model"> {
    const { created, model } = this.#options;
    return { id: this.id, object: "chat.completion.chunk", created, model };
  }

  #data(chunk: ChatCompletionChunk): string {
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }
}
