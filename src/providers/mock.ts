import {
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatMessage,
  estimatePromptTokens,
  estimateTokens,
  messageText,
  type ModelInfo,
  type Usage,
} from "../core/mod.ts";
import type { Provider, ProviderResult, StreamOutcome, UpstreamCall } from "./types.ts";

/** Settings of the built-in mock provider. */
export interface MockProviderOptions {
  /** The model names it answers to. */
  models: string[];
}

const CREATED = 1_767_225_600;

/**
 * A deterministic, offline provider: it answers every chat request with a short reply derived from
 * the last user message, with plausible token counts, as a whole or as a stream. It lets the
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
    return Promise.resolve({ kind: "stream", ...streamReply(request, id, reply) });
  }
}

interface Reply {
  content: string;
  finishReason: "stop" | "length";
  usage: Usage;
}

/** The deterministic reply to a request, with its usage. */
export function mockReply(request: ChatCompletionRequest): Reply {
  const question = lastUserText(request.messages).replace(/\s+/g, " ").trim();
  const full = `This is a mock reply from the gateway. You said: "${question.slice(0, 200)}".`;
  const limit = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const words = full.split(" ");
  const kept = limit !== undefined && estimateTokens(full) > limit
    ? takeTokens(words, limit)
    : words;
  const content = kept.join(" ");
  const prompt = estimatePromptTokens(request.messages);
  const completion = estimateTokens(content);
  return {
    content,
    finishReason: kept.length < words.length ? "length" : "stop",
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
    },
  };
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

function streamReply(
  request: ChatCompletionRequest,
  id: string,
  reply: Reply,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const encoder = new TextEncoder();
  const chunk = (delta: ChatCompletionChunk["choices"][0]["delta"], finish: string | null) =>
    ({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model: request.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    }) satisfies ChatCompletionChunk;
  const events: unknown[] = [chunk({ role: "assistant", content: "" }, null)];
  reply.content.split(/(?<= )/).forEach((piece) => events.push(chunk({ content: piece }, null)));
  events.push(chunk({}, reply.finishReason));
  if (request.stream_options?.include_usage) {
    events.push({ ...chunk({}, null), choices: [], usage: reply.usage });
  }
  let next = 0;
  let settle: (outcome: StreamOutcome) => void = () => {};
  const outcome = new Promise<StreamOutcome>((resolve) => settle = resolve);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < events.length) {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(events[next++])}\n\n`));
        return;
      }
      controller.enqueue(encoder.encode("data: [DONE]\n\n"));
      controller.close();
      settle({
        usage: reply.usage,
        finishReason: reply.finishReason,
        producedChars: reply.content.length,
      });
    },
    cancel() {
      // What the client received before it left is what was produced: bill it as an estimate.
      const sent = events.slice(0, next).reduce<number>(
        (chars, event) => chars + deltaChars(event),
        0,
      );
      settle({ error: "canceled", producedChars: sent });
    },
  }, { highWaterMark: 0 });
  return { body, outcome };
}

function deltaChars(event: unknown): number {
  const content = (event as ChatCompletionChunk).choices?.[0]?.delta?.content;
  return typeof content === "string" ? content.length : 0;
}
