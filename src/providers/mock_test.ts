import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/assert.ts";
import { UpstreamError } from "./errors.ts";
import {
  MOCK_EMBEDDING_DIMENSIONS,
  MOCK_EMBEDDING_MAX_DIMENSIONS,
  mockEmbedding,
  MockProvider,
  mockReply,
} from "./mock.ts";

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

Deno.test("mock embeddings are deterministic unit vectors, one per input, of the asked length", async () => {
  const provider = new MockProvider({ models: ["mock-gpt"] });
  const request = { model: "mock-gpt", input: ["alpha", "beta", "alpha"] };
  const first = await provider.embeddings(request);
  assertEquals(await provider.embeddings(request), first, "the same input, the same answer");
  assertEquals(first.body.object, "list");
  assertEquals(first.body.model, "mock-gpt");
  const vectors = first.body.data.map((item) => item.embedding as number[]);
  assertEquals(first.body.data.map((item) => [item.object, item.index]), [
    ["embedding", 0],
    ["embedding", 1],
    ["embedding", 2],
  ]);
  for (const vector of vectors) {
    assertEquals(vector.length, MOCK_EMBEDDING_DIMENSIONS);
    assert(Math.abs(Math.hypot(...vector) - 1) < 1e-5, "a unit vector");
  }
  assertEquals(vectors[0], vectors[2]);
  assertNotEquals(vectors[0], vectors[1], "different inputs, different vectors");
  assertEquals(first.body.usage, { prompt_tokens: 2 + 1 + 2, total_tokens: 5 });

  const short = await provider.embeddings({ model: "mock-gpt", input: [1, 2, 3], dimensions: 8 });
  const vector = short.body.data[0].embedding as number[];
  assertEquals(vector.length, 8);
  assertEquals(short.body.usage, { prompt_tokens: 3, total_tokens: 3 }, "tokens are counted");
});

Deno.test("a shorter mock embedding is the longer one's prefix, normalized again", async () => {
  const long = await mockEmbedding("shorten me", 64);
  const short = await mockEmbedding("shorten me", 4);
  const length = Math.hypot(...long.slice(0, 4));
  short.forEach((value, index) => assert(Math.abs(value - long[index] / length) < 1e-6));
});

Deno.test("mock embeddings in base64 decode to the same float32s", async () => {
  const provider = new MockProvider({ models: ["mock-gpt"] });
  const floats = await provider.embeddings({ model: "mock-gpt", input: "x", dimensions: 16 });
  const packed = await provider.embeddings({
    model: "mock-gpt",
    input: "x",
    dimensions: 16,
    encoding_format: "base64",
  });
  const encoded = packed.body.data[0].embedding;
  assert(typeof encoded === "string");
  const bytes = Uint8Array.fromBase64(encoded);
  const view = new DataView(bytes.buffer);
  const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
  assertEquals(decoded, floats.body.data[0].embedding);
});

Deno.test("the mock refuses embeddings longer than it makes, as an upstream's 400", async () => {
  const provider = new MockProvider({ models: ["mock-gpt"] });
  const error = await assertRejects(() =>
    provider.embeddings({ model: "m", input: "x", dimensions: MOCK_EMBEDDING_MAX_DIMENSIONS + 1 })
  );
  assert(error instanceof UpstreamError);
  assertEquals([error.errorClass, error.status], ["client_error", 400]);
});

Deno.test("mock completions answer n choices per prompt, whole and streamed alike", async () => {
  const provider = new MockProvider({ models: ["mock-gpt"] });
  const request = { model: "mock-gpt", prompt: ["Once upon", "a time"], n: 2 };
  const whole = await provider.completions(request, call);
  assertEquals(await provider.completions(request, call), whole, "deterministic");
  assert(whole.kind === "json");
  const { choices, usage } = whole.body;
  assertEquals(whole.body.object, "text_completion");
  assertEquals(choices.map((choice) => choice.index), [0, 1, 2, 3]);
  assertStringIncludes(choices[0].text, "Once upon");
  assertStringIncludes(choices[3].text, "a time");
  assertEquals(choices[0].finish_reason, "stop");
  assertEquals(usage!.prompt_tokens, 3 + 2);
  const texts = choices.reduce((sum, choice) => sum + choice.text.length, 0);
  assert(usage!.completion_tokens >= texts / 4);
  assertEquals(usage!.total_tokens, usage!.prompt_tokens + usage!.completion_tokens);

  const streamed = await provider.completions({
    ...request,
    stream: true,
    stream_options: { include_usage: true },
  }, call);
  assert(streamed.kind === "stream");
  const text = await new Response(streamed.body).text();
  const events = text.trim().split("\n\n").map((event) => event.slice("data: ".length));
  assertEquals(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((data) => JSON.parse(data));
  for (const [index, choice] of choices.entries()) {
    const pieces = chunks.flatMap((chunk) =>
      chunk.choices.filter((c: { index: number }) => c.index === index)
    );
    assertEquals(pieces.map((c: { text: string }) => c.text).join(""), choice.text);
    assertEquals(pieces.at(-1).finish_reason, "stop");
  }
  assertEquals(chunks.at(-1).usage, usage);
  assertEquals(chunks.at(-1).choices, []);
  const outcome = await streamed.outcome;
  assertEquals(outcome.usage, usage);
  assertEquals(outcome.producedChars, texts);
});

Deno.test("mock completions stop at max_tokens with finish_reason length", async () => {
  const provider = new MockProvider({ models: ["mock-gpt"] });
  const result = await provider.completions({ model: "m", prompt: "Tell me", max_tokens: 3 }, call);
  assert(result.kind === "json");
  assertEquals(result.body.choices[0].finish_reason, "length");
  assert(result.body.usage!.completion_tokens <= 3);
});
