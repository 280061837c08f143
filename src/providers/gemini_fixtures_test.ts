/**
 * Recorded translations in `testdata/gemini/`, written from Google's Gemini API reference: each
 * must come out of the provider exactly as recorded (only `created`, a clock reading, is ignored).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { type ChatCompletionRequest, type EmbeddingRequest, HttpError } from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import { parseChunks, readFixtures } from "./_fixtures_testing.ts";
import { GeminiProvider } from "./gemini.ts";
import type { StreamOutcome } from "./types.ts";

const FIXTURES = new URL("./testdata/gemini/", import.meta.url);
const BASE_URL = "https://generativelanguage.googleapis.com";
const API_KEY = "AIza-fixture-key";

interface RequestFixture {
  description: string;
  upstreamModel: string;
  openai: ChatCompletionRequest;
  /** The URL called, without the host. */
  path: string;
  gemini: Record<string, unknown>;
}

interface RefusalFixture {
  cases: Array<{ openai: ChatCompletionRequest; error: string }>;
}

interface ResponseFixture {
  description: string;
  model: string;
  gemini: Record<string, unknown>;
  openai: Record<string, unknown>;
}

interface BlockedFixture {
  description: string;
  gemini: Record<string, unknown>;
  /** The start of the client's error message. */
  error: string;
}

interface StreamFixture {
  description: string;
  model: string;
  clientWantsUsage: boolean;
  /** The upstream's SSE text, line by line. */
  events: string[];
  /** The parsed `data` of each event the client gets; `[DONE]` as a string. */
  chunks: unknown[];
  outcome: StreamOutcome;
}

interface EmbeddingFixture {
  description: string;
  upstreamModel: string;
  openai: EmbeddingRequest;
  path: string;
  gemini: { request: Record<string, unknown>; response: Record<string, unknown> };
  answer: Record<string, unknown>;
}

function fixtures<T>(prefix: string): Promise<Array<[string, T]>> {
  return readFixtures<T>(FIXTURES, prefix);
}

/** A provider whose upstream answers every call with `answer`, recording the calls. */
function providerAnswering(answer: () => Response) {
  const sent: Array<{ path: string; key: string | null; body: unknown }> = [];
  const provider = new GeminiProvider({
    apiKey: API_KEY,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      assertEquals(url.origin, BASE_URL);
      sent.push({
        path: url.pathname + url.search,
        key: request.headers.get("x-goog-api-key"),
        body: await request.json(),
      });
      return answer();
    },
  });
  return { provider, sent };
}

function call(upstreamModel = "gemini-2.5-flash") {
  return { signal: new AbortController().signal, traceId: "trace-fixture", upstreamModel };
}

const MINIMAL_ANSWER = {
  candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
};

function sseResponse(text: string, pieceLength = text.length): Response {
  const encoder = new TextEncoder();
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= text.length) return controller.close();
      controller.enqueue(encoder.encode(text.slice(offset, offset + pieceLength)));
      offset += pieceLength;
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

for (const [name, fixture] of await fixtures<RequestFixture>("request_")) {
  if (name === "request_refused.json") continue;
  Deno.test(`request translation (${name}): ${fixture.description}`, async () => {
    const answer = fixture.openai.stream
      ? () => sseResponse(`data: ${JSON.stringify(MINIMAL_ANSWER)}\r\n\r\n`)
      : () => Response.json(MINIMAL_ANSWER);
    const { provider, sent } = providerAnswering(answer);
    const result = await provider.chatCompletion(fixture.openai, call(fixture.upstreamModel));
    if (result.kind === "stream") await result.body.cancel();
    assertEquals(sent, [{ path: fixture.path, key: API_KEY, body: fixture.gemini }]);
  });
}

Deno.test("requests Gemini cannot honour are refused with a 400 before any call", async () => {
  const [[, fixture]] = await fixtures<RefusalFixture>("request_refused");
  for (const { openai, error: expected } of fixture.cases) {
    const { provider, sent } = providerAnswering(() => Response.json(MINIMAL_ANSWER));
    const error = await assertRejects(() => provider.chatCompletion(openai, call()));
    assert(error instanceof HttpError, expected);
    assertEquals([error.status, error.type], [400, "invalid_request_error"], expected);
    assertStringIncludes(error.message, expected);
    assertEquals(sent, [], expected);
  }
});

for (const [name, fixture] of await fixtures<ResponseFixture>("response_")) {
  Deno.test(`response translation (${name}): ${fixture.description}`, async () => {
    const { provider } = providerAnswering(() => Response.json(fixture.gemini));
    const request = { model: fixture.model, messages: [{ role: "user" as const, content: "Hi" }] };
    const result = await provider.chatCompletion(request, call());
    assert(result.kind === "json");
    const { created, ...completion } = result.body;
    assert(Number.isInteger(created), "created is whole seconds");
    assertEquals(completion, fixture.openai);
  });
}

for (const [name, fixture] of await fixtures<BlockedFixture>("blocked_")) {
  Deno.test(`a blocked prompt (${name}) is the client's content_filter error: ${fixture.description}`, async () => {
    const messages = [{ role: "user" as const, content: "Hi" }];
    for (const stream of [false, true]) {
      const { provider } = providerAnswering(() =>
        stream
          ? sseResponse(`data: ${JSON.stringify(fixture.gemini)}\r\n\r\n`)
          : Response.json(fixture.gemini)
      );
      const error = await assertRejects(() =>
        provider.chatCompletion({ model: "gemini", messages, stream }, call())
      );
      assert(error instanceof UpstreamError);
      assertEquals([error.errorClass, error.code], ["client_error", "content_filter"]);
      assertStringIncludes(error.message, fixture.error);
    }
  });
}

for (const [name, fixture] of await fixtures<StreamFixture>("stream_")) {
  Deno.test(`stream translation (${name}): ${fixture.description}`, async () => {
    const upstreamText = fixture.events.join("\r\n") + "\r\n";
    // Whole, and in 7-byte pieces: event boundaries must not matter.
    for (const pieceLength of [upstreamText.length, 7]) {
      const { provider, sent } = providerAnswering(() => sseResponse(upstreamText, pieceLength));
      const request: ChatCompletionRequest = {
        model: fixture.model,
        messages: [{ role: "user", content: "Hi" }],
        stream: true,
        stream_options: fixture.clientWantsUsage ? { include_usage: true } : undefined,
      };
      const result = await provider.chatCompletion(request, call());
      assert(result.kind === "stream");
      assertEquals(sent[0].path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
      const text = await new Response(result.body).text();
      assertEquals(parseChunks(text), fixture.chunks, `in pieces of ${pieceLength}`);
      assertEquals(await result.outcome, fixture.outcome, `in pieces of ${pieceLength}`);
    }
  });
}

for (const [name, fixture] of await fixtures<EmbeddingFixture>("embeddings_")) {
  Deno.test(`embeddings translation (${name}): ${fixture.description}`, async () => {
    const { provider, sent } = providerAnswering(() => Response.json(fixture.gemini.response));
    const result = await provider.embeddings(fixture.openai, call(fixture.upstreamModel));
    assertEquals(sent, [{ path: fixture.path, key: API_KEY, body: fixture.gemini.request }]);
    assertEquals(result.body, fixture.answer);
  });
}
