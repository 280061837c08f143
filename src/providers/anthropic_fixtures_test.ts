/**
 * Recorded translations in `testdata/anthropic/`, written from Anthropic's API reference: each
 * must come out of the provider exactly as recorded (only `created`, a clock reading, is ignored).
 */
import { assertEquals } from "../../tests/assert.ts";
import type { ChatCompletionRequest } from "../core/mod.ts";
import { AnthropicProvider } from "./anthropic.ts";
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

const FIXTURES = new URL("./testdata/anthropic/", import.meta.url);

interface RequestFixture {
  description: string;
  upstreamModel: string;
  defaultMaxTokens: number;
  openai: ChatCompletionRequest;
  anthropic: Record<string, unknown>;
}

interface StreamFixture extends ChunkFixture {
  /** The upstream's SSE text, line by line. */
  events: string[];
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
  return fixtureCall(upstreamModel);
}

const UPSTREAM: FixtureUpstream<unknown> = { answering: providerAnswering, call };

const MINIMAL_ANSWER = {
  id: "msg_minimal",
  type: "message",
  role: "assistant",
  model: "claude",
  content: [{ type: "text", text: "ok" }],
  stop_reason: "end_turn",
  usage: { input_tokens: 1, output_tokens: 1 },
};

for (const [name, fixture] of await requestFixtures<RequestFixture>(FIXTURES)) {
  Deno.test(`request translation (${name}): ${fixture.description}`, async () => {
    const answer = fixture.openai.stream
      ? () => sseResponse('event: message_stop\ndata: {"type":"message_stop"}\n\n')
      : () => Response.json(MINIMAL_ANSWER);
    const { provider, sent } = providerAnswering(answer, fixture.defaultMaxTokens);
    const result = await provider.chatCompletion(
      fixture.openai,
      call(fixture.upstreamModel),
    );
    if (result.kind === "stream") await result.body.cancel();
    assertEquals(sent, [fixture.anthropic]);
  });
}

Deno.test("requests Anthropic cannot honour are refused with a 400 before any call", async () => {
  await assertRefusals(FIXTURES, UPSTREAM, MINIMAL_ANSWER);
});

const responses = await readFixtures<ResponseFixture<"anthropic">>(FIXTURES, "response_");
for (const [name, fixture] of responses) {
  Deno.test(`response translation (${name}): ${fixture.description}`, async () => {
    await assertCompletion(UPSTREAM, { answer: fixture.anthropic, fixture });
  });
}

for (const [name, fixture] of await readFixtures<StreamFixture>(FIXTURES, "stream_")) {
  Deno.test(`stream translation (${name}): ${fixture.description}`, async () => {
    const upstreamText = fixture.events.join("\n") + "\n";
    // Whole, and in 7-byte pieces: event boundaries must not matter.
    for (const pieceLength of [upstreamText.length, 7]) {
      await assertStream(UPSTREAM, {
        answer: () => sseResponse(upstreamText, pieceLength),
        fixture,
        message: `in pieces of ${pieceLength}`,
      });
    }
  });
}
