import { assert, assertEquals } from "../../tests/assert.ts";
import {
  CHAT_FIELDS,
  COMPLETION_FIELDS,
  EMBEDDING_FIELDS,
  type FieldCase,
} from "../../tests/numeric_cases.ts";
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  embeddingRequestSchema,
} from "./openai.ts";

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

/** Checks every bad value of every field is refused naming it, and every good one taken. */
function assertBounds(
  schema: {
    safeParse(body: unknown): { success: boolean; error?: { issues: Array<{ path: unknown[] }> } };
  },
  base: Record<string, unknown>,
  cases: FieldCase[],
) {
  for (const { field, bad, good } of cases) {
    for (const value of bad) {
      const body = { ...base, [field]: value };
      assertEquals(issuePath(schema.safeParse(body)), field, JSON.stringify(body));
    }
    for (const value of good) {
      const body = { ...base, [field]: value };
      assert(schema.safeParse(body).success, `refused ${JSON.stringify(body)}`);
    }
  }
}

Deno.test("chat refuses numbers outside OpenAI's ranges, naming the field, and takes those inside", () => {
  const base = { model: "m", messages: [{ role: "user", content: "hi" }] };
  assertBounds(chatCompletionRequestSchema, base, CHAT_FIELDS);
});

Deno.test("completions refuse numbers outside OpenAI's ranges, naming the field, and take those inside", () => {
  assertBounds(completionRequestSchema, { model: "m", prompt: "hi" }, COMPLETION_FIELDS);
});

Deno.test("embeddings refuse numbers outside their ranges, naming the field, and take those inside", () => {
  assertBounds(embeddingRequestSchema, { model: "m", input: "hi" }, EMBEDDING_FIELDS);
});

Deno.test("a number too large for JSON's doubles is refused, not taken as infinity", () => {
  for (const field of ["max_tokens", "seed", "temperature", "presence_penalty", "n"]) {
    const body = JSON.parse(
      `{"model":"m","messages":[{"role":"user","content":"x"}],"${field}":1e400}`,
    );
    assertEquals(issuePath(chatCompletionRequestSchema.safeParse(body)), field);
  }
});

Deno.test("parameters the gateway does not know still pass through, numbers included", () => {
  const parsed = chatCompletionRequestSchema.parse({
    model: "m",
    messages: [{ role: "user", content: "x" }],
    top_k: 1e20,
    new_knob: -3.5,
  });
  assertEquals((parsed as Record<string, unknown>).top_k, 1e20);
  assertEquals((parsed as Record<string, unknown>).new_knob, -3.5);
});
