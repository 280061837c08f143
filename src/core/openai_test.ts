import { assert, assertEquals } from "../../tests/assert.ts";
import { completionRequestSchema, embeddingRequestSchema } from "./openai.ts";

/** The field the first issue names: its path up to `depth` parts (an item's index is deeper). */
function issuePath(
  result: { success: boolean; error?: { issues: Array<{ path: unknown[] }> } },
  depth = 1,
) {
  assert(!result.success, "the request should have been refused");
  return result.error!.issues[0].path.slice(0, depth).join(".");
}

Deno.test("embeddings take one text, several, or token arrays, and keep fields they do not know", () => {
  for (const input of ["hello", ["a", "b"], [1, 2, 3], [[1, 2], [3]]]) {
    const parsed = embeddingRequestSchema.safeParse({ model: "m", input });
    assert(parsed.success, `refused input ${JSON.stringify(input)}`);
    assertEquals(parsed.data.input, input);
  }
  const parsed = embeddingRequestSchema.parse({
    model: "m",
    input: "x",
    encoding_format: "base64",
    dimensions: 8,
    user: "u-1",
    new_openai_field: { anything: true },
  });
  assertEquals(parsed.dimensions, 8);
  assertEquals((parsed as Record<string, unknown>).new_openai_field, { anything: true });
});

Deno.test("embeddings refuse what OpenAI refuses, naming the field", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ input: "x" }, "model"],
    [{ model: "m" }, "input"],
    [{ model: "m", input: "" }, "input"],
    [{ model: "m", input: [] }, "input"],
    [{ model: "m", input: [1.5] }, "input"],
    [{ model: "m", input: Array.from({ length: 2049 }, () => "x") }, "input"],
    [{ model: "m", input: "x", encoding_format: "int8" }, "encoding_format"],
    [{ model: "m", input: "x", dimensions: 0 }, "dimensions"],
    [{ model: "m", input: "x", dimensions: 1.5 }, "dimensions"],
  ];
  for (const [body, field] of cases) {
    assertEquals(issuePath(embeddingRequestSchema.safeParse(body)), field, JSON.stringify(body));
  }
});

Deno.test("completions take a prompt as text, texts or tokens with OpenAI's parameters", () => {
  const parsed = completionRequestSchema.parse({
    model: "gpt-3.5-turbo-instruct",
    prompt: ["Say this is a test", "Another"],
    max_tokens: 0,
    temperature: 0,
    top_p: 1,
    n: 2,
    best_of: 3,
    stop: ["\n"],
    stream: true,
    stream_options: { include_usage: true },
    echo: true,
    logprobs: 5,
    suffix: "end",
    seed: 42,
    presence_penalty: -2,
    frequency_penalty: 2,
    logit_bias: { "50256": -100 },
    user: "u",
    unknown_field: 1,
  });
  assertEquals(parsed.n, 2);
  assertEquals(parsed.max_tokens, 0, "zero tokens scores a prompt with echo");
  assertEquals((parsed as Record<string, unknown>).unknown_field, 1);
  for (const prompt of ["", [1, 2], [[1], [2, 3]]]) {
    assert(completionRequestSchema.safeParse({ model: "m", prompt }).success);
  }
});

Deno.test("completions refuse malformed parameters, naming the field", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ prompt: "x" }, "model"],
    [{ model: "m" }, "prompt"],
    [{ model: "m", prompt: 3 }, "prompt"],
    [{ model: "m", prompt: "x", max_tokens: -1 }, "max_tokens"],
    [{ model: "m", prompt: "x", temperature: 3 }, "temperature"],
    [{ model: "m", prompt: "x", n: 0 }, "n"],
    [{ model: "m", prompt: "x", logprobs: 6 }, "logprobs"],
    [{ model: "m", prompt: "x", stop: ["a", "b", "c", "d", "e"] }, "stop"],
    [{ model: "m", prompt: "x", logit_bias: { "1": 101 } }, "logit_bias.1"],
    [{ model: "m", prompt: "x", stream: "yes" }, "stream"],
  ];
  for (const [body, field] of cases) {
    const depth = field.split(".").length;
    assertEquals(
      issuePath(completionRequestSchema.safeParse(body), depth),
      field,
      JSON.stringify(body),
    );
  }
});
