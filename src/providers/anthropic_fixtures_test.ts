/**
 * Recorded translations in `testdata/anthropic/`, written from Anthropic's API reference: each
 * must come out of the provider exactly as recorded (only `created`, a clock reading, is ignored).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { type ChatCompletionRequest, HttpError } from "../core/mod.ts";
import { AnthropicProvider } from "./anthropic.ts";
import type { StreamOutcome } from "./types.ts";
import { parseChunks, readFixtures } from "./_fixtures_testing.ts";

const FIXTURES = new URL("./testdata/anthropic/", import.meta.url);

interface RequestFixture {
  description: string;
  upstreamModel: string;
  defaultMaxTokens: number;
  openai: ChatCompletionRequest;
  anthropic: Record<string, unknown>;
}

interface RefusalFixture {
  cases: Array<{ openai: ChatCompletionRequest; error: string }>;
}

interface ResponseFixture {
  description: string;
  model: string;
  anthropic: Record<string, unknown>;
  openai: Record<string, unknown>;
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

/** A provider whose upstream answers every call with `answer`, recording the bodies sent. */
function providerAnswering(answer: () => Response, defaultMaxTokens = 1024) {
  const sent: unknown[] = [];
  const provider = new AnthropicProvider({
    apiKey: "sk-ant-fixture-key",
    defaultMaxTokens,
    fetch: async (input, init) => {
      sent.push(await new Request(input, init).json());
      return answer();
    },
  });
  return { provider, sent };
}

function call(upstreamModel = "claude-sonnet-4-5-20250929") {
  return { signal: new AbortController().signal, traceId: "trace-fixture", upstreamModel };
}

const MINIMAL_ANSWER = {
  id: "msg_minimal",
  type: "message",
  role: "assistant",
  model: "claude",
  content: [{ type: "text", text: "ok" }],
  stop_reason: "end_turn",
  usage: { input_tokens: 1, output_tokens: 1 },
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

for (const [name, fixture] of await readFixtures<RequestFixture>(FIXTURES, "request_")) {
  if (name === "request_refused.json") continue;
  Deno.test(`request translation (${name}): ${fixture.description}`, async () => {
    const answer = fixture.openai.stream
      ? () => sseResponse('event: message_stop\ndata: {"type":"message_stop"}\n\n')
      : () => Response.json(MINIMAL_ANSWER);
    const { provider, sent } = providerAnswering(answer, fixture.defaultMaxTokens);
    const result = await provider.chatCompletion(fixture.openai, call(fixture.upstreamModel));
    if (result.kind === "stream") await result.body.cancel();
    assertEquals(sent, [fixture.anthropic]);
  });
}

Deno.test("requests Anthropic cannot honour are refused with a 400 before any call", async () => {
  const [[, fixture]] = await readFixtures<RefusalFixture>(FIXTURES, "request_refused");
  for (const { openai, error: expected } of fixture.cases) {
    const { provider, sent } = providerAnswering(() => Response.json(MINIMAL_ANSWER));
    const error = await assertRejects(() => provider.chatCompletion(openai, call()));
    assert(error instanceof HttpError, expected);
    assertEquals([error.status, error.type], [400, "invalid_request_error"], expected);
    assertStringIncludes(error.message, expected);
    assertEquals(sent, [], expected);
  }
});

for (const [name, fixture] of await readFixtures<ResponseFixture>(FIXTURES, "response_")) {
  Deno.test(`response translation (${name}): ${fixture.description}`, async () => {
    const { provider } = providerAnswering(() => Response.json(fixture.anthropic));
    const request = { model: fixture.model, messages: [{ role: "user" as const, content: "Hi" }] };
    const result = await provider.chatCompletion(request, call());
    assert(result.kind === "json");
    const { created, ...completion } = result.body;
    assert(Number.isInteger(created), "created is whole seconds");
    assertEquals(completion, fixture.openai);
  });
}

for (const [name, fixture] of await readFixtures<StreamFixture>(FIXTURES, "stream_")) {
  Deno.test(`stream translation (${name}): ${fixture.description}`, async () => {
    const upstreamText = fixture.events.join("\n") + "\n";
    // Whole, and in 7-byte pieces: event boundaries must not matter.
    for (const pieceLength of [upstreamText.length, 7]) {
      const { provider } = providerAnswering(() => sseResponse(upstreamText, pieceLength));
      const request: ChatCompletionRequest = {
        model: fixture.model,
        messages: [{ role: "user", content: "Hi" }],
        stream: true,
        stream_options: fixture.clientWantsUsage ? { include_usage: true } : undefined,
      };
      const result = await provider.chatCompletion(request, call());
      assert(result.kind === "stream");
      const text = await new Response(result.body).text();
      assertEquals(parseChunks(text), fixture.chunks, `in pieces of ${pieceLength}`);
      assertEquals(await result.outcome, fixture.outcome, `in pieces of ${pieceLength}`);
    }
  });
}
