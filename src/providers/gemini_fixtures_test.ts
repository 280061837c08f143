/**
 * Recorded translations in `testdata/gemini/`, written from Google's Gemini API reference: each
 * must come out of the provider exactly as recorded (only `created`, a clock reading, is ignored).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import type { ChatCompletionRequest, EmbeddingRequest } from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import {
  assertCompletion,
  assertRefusals,
  assertStream,
  type ChunkFixture,
  fixtureCall,
  type FixtureUpstream,
  readFixtures,
  requestFixtures,
  type ResponseFixture,
  sseResponse,
} from "./_fixtures_testing.ts";
import { GeminiProvider } from "./gemini.ts";

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

interface BlockedFixture {
  description: string;
  gemini: Record<string, unknown>;
  /** The start of the client's error message. */
  error: string;
}

interface StreamFixture extends ChunkFixture {
  /** The upstream's SSE text, line by line. */
  events: string[];
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

/** A call the provider sent: its path and query, its key, its body. */
interface Sent {
  path: string;
  key: string | null;
  body: unknown;
}

/** A provider whose upstream answers every call with `answer`, recording the calls. */
function providerAnswering(answer: () => Response) {
  const sent: Sent[] = [];
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
  return fixtureCall(upstreamModel);
}

const UPSTREAM: FixtureUpstream<Sent> = { answering: providerAnswering, call };

const MINIMAL_ANSWER = {
  candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
};

for (const [name, fixture] of await requestFixtures<RequestFixture>(FIXTURES)) {
  Deno.test(`request translation (${name}): ${fixture.description}`, async () => {
    const answer = fixture.openai.stream
      ? () => sseResponse(`data: ${JSON.stringify(MINIMAL_ANSWER)}\r\n\r\n`)
      : () => Response.json(MINIMAL_ANSWER);
    const { provider, sent } = providerAnswering(answer);
    const result = await provider.chatCompletion(
      fixture.openai,
      call(fixture.upstreamModel),
    );
    if (result.kind === "stream") await result.body.cancel();
    assertEquals(sent, [{ path: fixture.path, key: API_KEY, body: fixture.gemini }]);
  });
}

Deno.test("requests Gemini cannot honour are refused with a 400 before any call", async () => {
  await assertRefusals(FIXTURES, UPSTREAM, MINIMAL_ANSWER);
});

for (const [name, fixture] of await fixtures<ResponseFixture<"gemini">>("response_")) {
  Deno.test(`response translation (${name}): ${fixture.description}`, async () => {
    await assertCompletion(UPSTREAM, { answer: fixture.gemini, fixture });
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
      const sent = await assertStream(UPSTREAM, {
        answer: () => sseResponse(upstreamText, pieceLength),
        fixture,
        message: `in pieces of ${pieceLength}`,
      });
      assertEquals(sent[0].path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
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
