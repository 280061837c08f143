import { assertEquals } from "../../tests/assert.ts";
import { ChunkWriter } from "./_chunk_writer.ts";
import { parseChunks } from "./_fixtures_testing.ts";

Deno.test("a stream of two choices gives each its chunks; the outcome tells the first's finish", () => {
  const writer = new ChunkWriter({ model: "m", created: 1, clientWantsUsage: true });
  writer.id = "chatcmpl-two";
  const call = {
    index: 0,
    id: "c",
    type: "function" as const,
    function: { name: "f", arguments: "{}" },
  };
  let text = writer.delta({ role: "assistant", content: "ab" }, 0);
  text += writer.delta({ role: "assistant", content: "", tool_calls: [call] }, 1);
  text += writer.finish("tool_calls", 1) + writer.finish("length", 0);
  writer.usage = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
  text += writer.complete();
  const envelope = { id: "chatcmpl-two", object: "chat.completion.chunk", model: "m" };
  assertEquals(parseChunks(text), [
    {
      ...envelope,
      choices: [{ index: 0, delta: { role: "assistant", content: "ab" }, finish_reason: null }],
    },
    {
      ...envelope,
      choices: [{
        index: 1,
        delta: { role: "assistant", content: "", tool_calls: [call] },
        finish_reason: null,
      }],
    },
    { ...envelope, choices: [{ index: 1, delta: {}, finish_reason: "tool_calls" }] },
    { ...envelope, choices: [{ index: 0, delta: {}, finish_reason: "length" }] },
    {
      ...envelope,
      choices: [],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    },
    "[DONE]",
  ]);
  assertEquals(writer.outcome, {
    producedChars: 4,
    usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    finishReason: "length",
  });
  assertEquals(writer.ended, true);
});

Deno.test("stop sends the finish chunk that did not go out; complete never adds one", () => {
  const stopped = new ChunkWriter({ model: "m", created: 1, clientWantsUsage: false });
  assertEquals(parseChunks(stopped.text("a") + stopped.stop()).at(-2), {
    id: "",
    object: "chat.completion.chunk",
    model: "m",
    choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
  });
  const completed = new ChunkWriter({ model: "m", created: 1, clientWantsUsage: false });
  assertEquals(completed.complete(), "data: [DONE]\n\n");
  assertEquals(completed.outcome, { producedChars: 0 });
});
