/**
 * Recorded translations in `testdata/bedrock/`, written from AWS's Bedrock Runtime API reference
 * (Converse, ConverseStream): each must come out of the provider exactly as recorded (only
 * `created`, a clock reading, and the ids Converse does not give are left aside).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { eventStreamResponse, type StreamMessage } from "../../tests/fake_bedrock.ts";
import { type ChatCompletionRequest, HttpError } from "../core/mod.ts";
import { BedrockProvider } from "./bedrock.ts";
import type { StreamOutcome } from "./types.ts";
import { parseChunks, readFixtures } from "./_fixtures_testing.ts";

const FIXTURES = new URL("./testdata/bedrock/", import.meta.url);

interface RequestFixture {
  description: string;
  openai: ChatCompletionRequest;
  bedrock: Record<string, unknown>;
}

interface RefusalFixture {
  cases: Array<{ openai: ChatCompletionRequest; error: string }>;
}

interface ResponseFixture {
  description: string;
  model: string;
  bedrock: Record<string, unknown>;
  openai: Record<string, unknown>;
}

interface StreamFixture {
  description: string;
  model: string;
  clientWantsUsage: boolean;
  messages: StreamMessage[];
  /** The parsed `data` of each event the client gets, without `id` and `created`. */
  chunks: unknown[];
  outcome: StreamOutcome;
}

/** A provider whose upstream answers every call with `answer`, recording what was sent. */
function providerAnswering(answer: () => Response) {
  const sent: Array<{ url: string; body: unknown }> = [];
  const provider = new BedrockProvider({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "fixture-secret" },
    fetch: async (input, init) => {
      const request = new Request(input, init);
      sent.push({ url: request.url, body: await request.json() });
      return answer();
    },
  });
  return { provider, sent };
}

const MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0";

function call() {
  return {
    signal: new AbortController().signal,
    traceId: "trace-fixture",
    upstreamModel: MODEL_ID,
  };
}

const MINIMAL_ANSWER = {
  output: { message: { role: "assistant", content: [{ text: "ok" }] } },
  stopReason: "end_turn",
  usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
};

for (const [name, fixture] of await readFixtures<RequestFixture>(FIXTURES, "request_")) {
  if (name === "request_refused.json") continue;
  Deno.test(`bedrock request translation (${name}): ${fixture.description}`, async () => {
    const answer = fixture.openai.stream
      ? () => eventStreamResponse([{ event: "messageStop", payload: { stopReason: "end_turn" } }])
      : () => Response.json(MINIMAL_ANSWER);
    const { provider, sent } = providerAnswering(answer);
    const result = await provider.chatCompletion(fixture.openai, call());
    if (result.kind === "stream") await result.body.cancel();
    const operation = fixture.openai.stream ? "converse-stream" : "converse";
    assertEquals(sent, [{
      url: `https://bedrock-runtime.us-east-1.amazonaws.com/model/${
        encodeURIComponent(MODEL_ID)
      }/${operation}`,
      body: fixture.bedrock,
    }]);
  });
}

Deno.test("requests Converse cannot honour are refused with a 400 before any call", async () => {
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
  Deno.test(`bedrock response translation (${name}): ${fixture.description}`, async () => {
    const { provider } = providerAnswering(() => Response.json(fixture.bedrock));
    const request = { model: fixture.model, messages: [{ role: "user" as const, content: "Hi" }] };
    const result = await provider.chatCompletion(request, call());
    assert(result.kind === "json");
    const { id, created, ...completion } = result.body;
    assert(Number.isInteger(created), "created is whole seconds");
    assertStringIncludes(id, "chatcmpl_");
    assertEquals(completion, fixture.openai);
  });
}

for (const [name, fixture] of await readFixtures<StreamFixture>(FIXTURES, "stream_")) {
  Deno.test(`bedrock stream translation (${name}): ${fixture.description}`, async () => {
    // Whole, and in 7-byte pieces: message boundaries must not matter.
    for (const pieceLength of [undefined, 7]) {
      const { provider } = providerAnswering(() =>
        eventStreamResponse(fixture.messages, pieceLength)
      );
      const request: ChatCompletionRequest = {
        model: fixture.model,
        messages: [{ role: "user", content: "Hi" }],
        stream: true,
        stream_options: fixture.clientWantsUsage ? { include_usage: true } : undefined,
      };
      const result = await provider.chatCompletion(request, call());
      assert(result.kind === "stream");
      const text = await new Response(result.body).text();
      assertEquals(parseChunks(text, "chatcmpl_"), fixture.chunks, `in pieces of ${pieceLength}`);
      assertEquals(await result.outcome, fixture.outcome, `in pieces of ${pieceLength}`);
    }
  });
}
