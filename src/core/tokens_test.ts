import { assert, assertEquals } from "../../tests/assert.ts";
import { MAX_OPENAI_INTEGER } from "./openai.ts";
import { chatEstimate, completionEstimate, embeddingEstimate, textsOrTokens } from "./tokens.ts";

Deno.test("a batch is split into its inputs; an array of numbers is one input", () => {
  assertEquals(textsOrTokens("abc"), ["abc"]);
  assertEquals(textsOrTokens(["a", "b"]), ["a", "b"]);
  assertEquals(textsOrTokens([1, 2, 3]), [[1, 2, 3]]);
  assertEquals(textsOrTokens([[1], [2, 3]]), [[1], [2, 3]]);
});

Deno.test("embeddings cost their inputs only: texts estimated, token arrays counted", () => {
  assertEquals(embeddingEstimate({ model: "e", input: "12345678" }), {
    model: "e",
    inputTokens: 2,
    outputTokens: 0,
    param: "input",
  });
  assertEquals(embeddingEstimate({ model: "e", input: ["1234", "12345"] }).inputTokens, 1 + 2);
  assertEquals(embeddingEstimate({ model: "e", input: [[7, 8, 9], [1]] }).inputTokens, 4);
});

Deno.test("completions reserve max_tokens for every choice of every prompt", () => {
  const estimate = completionEstimate({ model: "c", prompt: ["1234", "12345678"], n: 2 }, 100);
  assertEquals(estimate, {
    model: "c",
    inputTokens: 1 + 2,
    outputTokens: 100 * 2 * 2,
    param: "n",
  });
  assertEquals(completionEstimate({ model: "c", prompt: [1, 2, 3], max_tokens: 5 }, 100), {
    model: "c",
    inputTokens: 3,
    outputTokens: 5,
    param: "max_tokens",
  });
  // best_of choices are generated and billed though only n come back.
  assertEquals(
    completionEstimate({ model: "c", prompt: "x", max_tokens: 10, n: 2, best_of: 5 }, 100)
      .outputTokens,
    50,
  );
});

Deno.test("chat reserves its messages plus max tokens for each of its n choices", () => {
  const messages = [{ role: "user" as const, content: "12345678" }];
  assertEquals(chatEstimate({ model: "m", messages, n: 3 }, 5), {
    model: "m",
    inputTokens: 3 + 4 + 2,
    outputTokens: 15,
    param: "n",
  });
  assertEquals(
    chatEstimate({ model: "m", messages, max_tokens: 7, max_completion_tokens: 2 }, 5)
      .outputTokens,
    2,
  );
});

Deno.test("an estimate names the parameter that makes it large, for the 400 when it is too large", () => {
  const messages = [{ role: "user" as const, content: "hi" }];
  const chat = (fields: Record<string, number>) =>
    chatEstimate({ model: "m", messages, ...fields }, 5).param;
  assertEquals(chat({ max_completion_tokens: 2, max_tokens: 3, n: 4 }), "max_completion_tokens");
  assertEquals(chat({ max_tokens: 3, n: 4 }), "max_tokens");
  assertEquals(chat({ n: 4 }), "n");
  assertEquals(chat({}), "max_tokens");
  const completion = (fields: Record<string, number>) =>
    completionEstimate({ model: "c", prompt: ["a", "b"], ...fields }, 5).param;
  assertEquals(completion({ max_tokens: 3, n: 2, best_of: 4 }), "max_tokens");
  assertEquals(completion({ n: 2, best_of: 4 }), "best_of");
  assertEquals(completion({ n: 4, best_of: 2 }), "n");
  assertEquals(completion({}), "prompt");
});

Deno.test("the largest request OpenAI's bounds allow still counts its tokens exactly", () => {
  // Every prompt, every choice and OpenAI's largest max_tokens: still a safe integer of tokens.
  const estimate = completionEstimate({
    model: "c",
    prompt: Array.from({ length: 2048 }, () => [1]),
    max_tokens: MAX_OPENAI_INTEGER,
    n: 128,
  }, 5);
  assert(Number.isSafeInteger(estimate.outputTokens), String(estimate.outputTokens));
  assertEquals(estimate.outputTokens, MAX_OPENAI_INTEGER * 128 * 2048);
});
