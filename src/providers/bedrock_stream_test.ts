/**
 * A property of the ConverseStream translation: whatever events Bedrock sends, in whatever order,
 * the client gets a well-formed OpenAI stream: chunks of one id, tool calls numbered in the order
 * they started, one finish chunk before `[DONE]` (at most one before an error event), and an end
 * that is either `[DONE]` or one error event.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import type { BedrockStreamEvent } from "./_bedrock_api.ts";
import { BedrockStreamTranslator } from "./_bedrock_stream.ts";

/** A small deterministic generator (a linear congruential one), so a failure can be replayed. */
function random(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % below;
  };
}

function randomEvent(next: (below: number) => number): BedrockStreamEvent {
  const index = next(4);
  switch (next(8)) {
    case 0:
      return { type: "messageStart", body: { role: "assistant" } };
    case 1:
      return {
        type: "contentBlockStart",
        body: {
          contentBlockIndex: index,
          start: { toolUse: { toolUseId: `t${index}`, name: "f" } },
        },
      };
    case 2:
      return {
        type: "contentBlockDelta",
        body: { contentBlockIndex: index, delta: { text: "x" } },
      };
    case 3:
      return {
        type: "contentBlockDelta",
        body: { contentBlockIndex: index, delta: { toolUse: { input: '{"a":' } } },
      };
    case 4:
      return { type: "contentBlockStop", body: { contentBlockIndex: index } };
    case 5:
      return { type: "messageStop", body: { stopReason: ["end_turn", "tool_use"][next(2)] } };
    case 6:
      return { type: "metadata", body: { usage: { inputTokens: 3, outputTokens: 2 } } };
    default:
      return { type: "unknown", name: "somethingNew" };
  }
}

Deno.test("any sequence of ConverseStream events becomes a well-formed OpenAI stream", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const next = random(seed);
    const translator = new BedrockStreamTranslator({
      model: "m",
      created: 1,
      clientWantsUsage: next(2) === 0,
    });
    let text = "";
    const length = next(30);
    for (let i = 0; i < length; i++) text += translator.push(randomEvent(next));
    if (next(5) === 0) text += translator.fail("server_error", "broken");
    else text += translator.end();
    const events = text.split("\n\n").slice(0, -1).map((event) => {
      assert(event.startsWith("data: "), `seed ${seed}: one data line per event`);
      return event.slice("data: ".length);
    });
    const last = events.at(-1);
    assert(last !== undefined, `seed ${seed}: the stream ends with something`);
    const body = events.slice(0, -1).map((data) => JSON.parse(data));
    if (last === "[DONE]") {
      assert(body.every((chunk) => chunk.error === undefined), `seed ${seed}: no error before`);
    } else {
      assert(JSON.parse(last).error !== undefined, `seed ${seed}: an error ends it otherwise`);
    }
    assertEquals(new Set(body.map((chunk) => chunk.id)).size <= 1, true, `seed ${seed}: one id`);
    const started = body.flatMap((chunk) => chunk.choices ?? [])
      .flatMap((choice) => choice.delta?.tool_calls ?? [])
      .filter((call) => call.id !== undefined)
      .map((call) => call.index);
    assertEquals(started, started.map((_, ordinal) => ordinal), `seed ${seed}: tool call order`);
    const finishes = body.flatMap((chunk) => chunk.choices ?? [])
      .filter((choice) => choice.finish_reason !== null);
    if (last === "[DONE]") assertEquals(finishes.length, 1, `seed ${seed}: one finish chunk`);
    else assert(finishes.length <= 1, `seed ${seed}: one finish chunk at most`);
    assert(translator.ended, `seed ${seed}: the translator knows the stream is over`);
  }
});
