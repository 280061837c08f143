import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { MockProvider, mockReply } from "./mock.ts";

const call = { signal: new AbortController().signal, traceId: "req-1", upstreamModel: "mock-gpt" };

Deno.test("the mock answers deterministically with plausible usage", async () => {
  const provider = new MockProvider({ models: ["mock-gpt"] });
  const request = { model: "mock-gpt", messages: [{ role: "user" as const, content: "Hello" }] };
  const first = await provider.chatCompletion(request, call);
  const second = await provider.chatCompletion(request, call);
  assertEquals(first, second);
  assert(first.kind === "json");
  assertStringIncludes(first.body.choices[0].message.content ?? "", "Hello");
  const usage = first.body.usage!;
  assert(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
  assertEquals(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

Deno.test("max_tokens cuts the reply and reports finish_reason length", () => {
  const reply = mockReply({
    model: "m",
    messages: [{ role: "user", content: "a long question" }],
    max_tokens: 3,
  });
  assertEquals(reply.finishReason, "length");
  assert(reply.usage.completion_tokens <= 3);
});

Deno.test("the mock streams the same text, with usage only when asked", async () => {
  const provider = new MockProvider({ models: ["mock-gpt"] });
  const messages = [{ role: "user" as const, content: "Stream me" }];
  const result = await provider.chatCompletion({ model: "mock-gpt", messages, stream: true }, call);
  assert(result.kind === "stream");
  const text = await new Response(result.body).text();
  const events = text.trim().split("\n\n").map((event) => event.slice("data: ".length));
  assertEquals(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((data) => JSON.parse(data));
  const content = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("");
  assertEquals(content, mockReply({ model: "mock-gpt", messages }).content);
  assertEquals(chunks.some((chunk) => chunk.usage), false);
  assertEquals((await result.outcome).finishReason, "stop");

  const withUsage = await provider.chatCompletion({
    model: "mock-gpt",
    messages,
    stream: true,
    stream_options: { include_usage: true },
  }, call);
  assert(withUsage.kind === "stream");
  assertStringIncludes(await new Response(withUsage.body).text(), '"usage":{"prompt_tokens"');
});

Deno.test("the mock lists its configured models", async () => {
  const models = await new MockProvider({ models: ["a", "b"] }).listModels();
  assertEquals(models.map((model) => model.id), ["a", "b"]);
});
