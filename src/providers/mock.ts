import {
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatMessage,
  type Completion,
  type CompletionRequest,
  embeddingEstimate,
  type EmbeddingRequest,
  type EmbeddingResponse,
  estimatePromptTokens,
  estimateTokens,
  messageText,
  type ModelInfo,
  textsOrTokens,
  type Usage,
} from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import { float32Base64 } from "./_float32_base64.ts";
import type {
  JsonResult,
  Provider,
  ProviderResult,
  StreamOutcome,
  StreamResult,
  UpstreamCall,
} from "./types.ts";

/** Settings of the built-in mock provider. */
export interface MockProviderOptions {
  /** The model names it answers to. */
  models: string[];
}

const CREATED = 1_767_225_600;

/** The length of the mock's embeddings when a request sets no `dimensions`. */
export const MOCK_EMBEDDING_DIMENSIONS = 256;

/** The longest embeddings the mock makes, so that one request cannot make it build gigabytes. */
export const MOCK_EMBEDDING_MAX_DIMENSIONS = 4096;

/**
 * A deterministic, offline provider: it answers every chat and legacy completions request with a
 * short reply derived from the prompt, with plausible token counts, as a whole or as a stream, and
 * every embeddings request with unit vectors derived from a hash of each input. It lets the
 * gateway run and be tried with no upstream at all.
 */
export class MockProvider implements Provider {
  readonly name = "mock";
  readonly #models: ModelInfo[];

  constructor(options: MockProviderOptions) {
    this.#models = options.models.map((id) => ({
      id,
      object: "model",
      created: CREATED,
      owned_by: "mock",
    }));
  }

  /** The configured model names. */
  listModels(): Promise<ModelInfo[]> {
    return Promise.resolve(this.#models);
  }

  /** Answers at once, or streams the answer word by word. */
  chatCompletion(request: ChatCompletionRequest, call: UpstreamCall): Promise<ProviderResult> {
    const reply = mockReply(request);
    const id = `chatcmpl-mock-${call.traceId}`;
    if (!request.stream) {
      const body: ChatCompletion = {
        id,
        object: "chat.completion",
        created: CREATED,
        model: request.model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: reply.content },
          finish_reason: reply.finishReason,
        }],
        usage: reply.usage,
      };
      return Promise.resolve({ kind: "json", body });
    }
    const chunk = (delta: ChatCompletionChunk["choices"][0]["delta"], finish: string | null) =>
      ({
        id,
        object: "chat.completion.chunk",
        created: CREATED,
        model: request.model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      }) satisfies ChatCompletionChunk;
    const events: StreamEvent[] = [{ data: chunk({ role: "assistant", content: "" }, null) }];
    for (const piece of words(reply.content)) {
      events.push({ data: chunk({ content: piece }, null), chars: piece.length });
    }
    events.push({ data: chunk({}, reply.finishReason) });
    if (request.stream_options?.include_usage) {
      events.push({ data: { ...chunk({}, null), choices: [], usage: reply.usage } });
    }
    return Promise.resolve(eventStream(events, {
      usage: reply.usage,
      finishReason: reply.finishReason,
      producedChars: reply.content.length,
    }));
  }

  /** Answers every prompt with `n` replies, at once or streamed word by word. */
  completions(request: CompletionRequest, call: UpstreamCall): Promise<ProviderResult<Completion>> {
    const replies = textsOrTokens(request.prompt).map((prompt) => {
      const text = typeof prompt === "string" ? prompt : `${prompt.length} tokens`;
      return replyTo(`This is a mock completion from the gateway. Your prompt: ${quote(text)}.`, {
        limit: request.max_tokens ?? undefined,
        promptTokens: typeof prompt === "string" ? estimateTokens(prompt) : prompt.length,
      });
    });
    // Each prompt gets its `n` choices, one after the other, as OpenAI numbers them.
    const choices = replies.flatMap((reply) => Array(request.n ?? 1).fill(reply) as Reply[]);
    const promptTokens = replies.reduce((sum, reply) => sum + reply.usage.prompt_tokens, 0);
    const completionTokens = choices.reduce((sum, reply) => sum + reply.usage.completion_tokens, 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const id = `cmpl-mock-${call.traceId}`;
    const completion = (choices: Completion["choices"]): Completion => ({
      id,
      object: "text_completion",
      created: CREATED,
      model: request.model,
      choices,
    });
    if (!request.stream) {
      const body = completion(choices.map((reply, index) => ({
        index,
        text: reply.content,
        logprobs: null,
        finish_reason: reply.finishReason,
      })));
      return Promise.resolve({ kind: "json", body: { ...body, usage } });
    }
    const events: StreamEvent[] = choices.flatMap((reply, index) => [
      ...words(reply.content).map((piece) => ({
        data: completion([{ index, text: piece, logprobs: null, finish_reason: null }]),
        chars: piece.length,
      })),
      {
        data: completion([{ index, text: "", logprobs: null, finish_reason: reply.finishReason }]),
      },
    ]);
    if (request.stream_options?.include_usage) {
      events.push({ data: { ...completion([]), usage } });
    }
    return Promise.resolve(eventStream(events, {
      usage,
      finishReason: choices.at(-1)?.finishReason,
      producedChars: choices.reduce((chars, reply) => chars + reply.content.length, 0),
    }));
  }

  /**
   * Answers each input with a unit vector of `dimensions` (else
   * {@linkcode MOCK_EMBEDDING_DIMENSIONS}) numbers derived from a hash of the input, as floats or
   * base64 as asked; the usage counts the inputs' tokens.
   */
  async embeddings(request: EmbeddingRequest): Promise<JsonResult<EmbeddingResponse>> {
    const dimensions = request.dimensions ?? MOCK_EMBEDDING_DIMENSIONS;
    if (dimensions > MOCK_EMBEDDING_MAX_DIMENSIONS) {
      throw new UpstreamError(
        "client_error",
        `The mock makes embeddings of at most ${MOCK_EMBEDDING_MAX_DIMENSIONS} dimensions`,
        { status: 400 },
      );
    }
    const data = await Promise.all(
      textsOrTokens(request.input).map(async (input, index) => {
        const vector = await mockEmbedding(input, dimensions);
        return {
          object: "embedding" as const,
          index,
          embedding: request.encoding_format === "base64" ? float32Base64(vector) : vector,
        };
      }),
    );
    const tokens = embeddingEstimate(request).inputTokens;
    return {
      kind: "json",
      body: {
        object: "list",
        data,
        model: request.model,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      },
    };
  }
}

interface Reply {
  content: string;
  finishReason: "stop" | "length";
  usage: Usage;
}

/** The deterministic reply to a chat request, with its usage. */
export function mockReply(request: ChatCompletionRequest): Reply {
  const question = lastUserText(request.messages);
  return replyTo(`This is a mock reply from the gateway. You said: ${quote(question)}.`, {
    limit: request.max_completion_tokens ?? request.max_tokens ?? undefined,
    promptTokens: estimatePromptTokens(request.messages),
  });
}

/** `full`, cut to at most `limit` tokens, with the usage it makes after such a prompt. */
function replyTo(full: string, options: { limit?: number; promptTokens: number }): Reply {
  const { limit, promptTokens } = options;
  const words = full.split(" ");
  const kept = limit !== undefined && estimateTokens(full) > limit
    ? takeTokens(words, limit)
    : words;
  const content = kept.join(" ");
  const completion = estimateTokens(content);
  return {
    content,
    finishReason: kept.length < words.length ? "length" : "stop",
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completion,
      total_tokens: promptTokens + completion,
    },
  };
}

/** A prompt's text, on one line and shortened, in quotes. */
function quote(text: string): string {
  return `"${text.replace(/\s+/g, " ").trim().slice(0, 200)}"`;
}

/** The pieces a reply streams in: its words, each with the space after it. */
function words(content: string): string[] {
  return content.split(/(?<= )/).filter((piece) => piece.length > 0);
}

function takeTokens(words: string[], limit: number): string[] {
  const kept: string[] = [];
  for (const word of words) {
    if (estimateTokens([...kept, word].join(" ")) > limit) break;
    kept.push(word);
  }
  return kept;
}

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "user") return messageText(messages[i]);
  }
  return "";
}

/** One event of a mock stream: its JSON data, and the characters of text it carries. */
interface StreamEvent {
  data: unknown;
  chars?: number;
}

/** Streams `events` one per read, then `[DONE]`; `outcome` settles with `end` or a cancel. */
function eventStream(events: StreamEvent[], end: StreamOutcome): StreamResult {
  const encoder = new TextEncoder();
  let next = 0;
  let settle: (outcome: StreamOutcome) => void = () => {};
  const outcome = new Promise<StreamOutcome>((resolve) => settle = resolve);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < events.length) {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(events[next++].data)}\n\n`));
        return;
      }
      controller.enqueue(encoder.encode("data: [DONE]\n\n"));
      controller.close();
      settle(end);
    },
    cancel() {
      // What the client received before it left is what was produced: bill it as an estimate.
      const sent = events.slice(0, next).reduce((chars, event) => chars + (event.chars ?? 0), 0);
      settle({ error: "canceled", producedChars: sent });
    },
  }, { highWaterMark: 0 });
  return { kind: "stream", body, outcome };
}

/**
 * A deterministic unit vector for `input`: numbers in [-1, 1) from a generator seeded by the
 * input's SHA-256, scaled to length 1 and rounded to float32 (the precision OpenAI's base64 form
 * carries). A shorter vector is a prefix of a longer one, normalized again, as OpenAI shortens.
 */
export async function mockEmbedding(
  input: string | number[],
  dimensions: number,
): Promise<number[]> {
  const text = typeof input === "string" ? input : JSON.stringify(input);
  const digest = new Uint32Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  const next = xorshift128([digest[0], digest[1], digest[2], digest[3] || 1]);
  const raw = Array.from({ length: dimensions }, () => next() * 2 - 1);
  const length = Math.hypot(...raw) || 1;
  return raw.map((value) => Math.fround(value / length));
}

/** Marsaglia's xorshift128: uniform numbers in [0, 1) from a 128-bit state that is not all zero. */
function xorshift128(seed: [number, number, number, number]): () => number {
  let [x, y, z, w] = seed;
  return () => {
    const t = x ^ (x << 11);
    x = y, y = z, z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return w / 4294967296;
  };
}
