/**
 * Recorded translations in `testdata/bedrock/`, written from AWS's Bedrock Runtime API reference
 * (Converse, ConverseStream): each must come out of the provider exactly as recorded (only
 * `created`, a clock reading, and the ids Converse does not give are left aside).
 */
import { assertEquals } from "../../tests/assert.ts";
import { eventStreamResponse, type StreamMessage } from "../../tests/fake_bedrock.ts";
import type { ChatCompletionRequest } from "../core/mod.ts";
import { BedrockProvider } from "./bedrock.ts";
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
} from "./_fixtures_testing.ts";

const FIXTURES = new URL("./testdata/bedrock/", import.meta.url);

interface RequestFixture {
  description: string;
  openai: ChatCompletionRequest;
  bedrock: Record<string, unknown>;
}

/** Its chunks are without `id`, which Converse does not give. */
interface StreamFixture extends ChunkFixture {
  messages: StreamMessage[];
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

const call = () => fixtureCall(MODEL_ID);

const UPSTREAM: FixtureUpstream<unknown> = { answering: providerAnswering, call };

const MINIMAL_ANSWER = {
  output: { message: { role: "assistant", content: [{ text: "ok" }] } },
  stopReason: "end_turn",
  usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
};

for (const [name, fixture] of await requestFixtures<RequestFixture>(FIXTURES)) {
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
  await assertRefusals(FIXTURES, UPSTREAM, MINIMAL_ANSWER);
});

const responses = await readFixtures<ResponseFixture<"bedrock">>(FIXTURES, "response_");
for (const [name, fixture] of responses) {
  Deno.test(`bedrock response translation (${name}): ${fixture.description}`, async () => {
    await assertCompletion(UPSTREAM, {
      answer: fixture.bedrock,
      fixture,
      madeIdPrefix: "chatcmpl_",
    });
  });
}

for (const [name, fixture] of await readFixtures<StreamFixture>(FIXTURES, "stream_")) {
  Deno.test(`bedrock stream translation (${name}): ${fixture.description}`, async () => {
    // Whole, and in 7-byte pieces: message boundaries must not matter.
    for (const pieceLength of [undefined, 7]) {
      await assertStream(UPSTREAM, {
        answer: () => eventStreamResponse(fixture.messages, pieceLength),
        fixture,
        message: `in pieces of ${pieceLength}`,
        madeIdPrefix: "chatcmpl_",
      });
    }
  });
}
