import { assert, assertEquals } from "../../tests/assert.ts";
import { responsesRequestSchema } from "./schema.ts";

/** The path and message of the first issue, as the 400 names them. */
function refusal(body: Record<string, unknown>): { param: string; message: string } {
  const parsed = responsesRequestSchema.safeParse({ model: "gpt-4o", input: "hi", ...body });
  assert(!parsed.success, "the request was accepted");
  const issue = parsed.error.issues[0];
  return { param: issue.path.join("."), message: issue.message };
}

Deno.test("built-in tools are refused by the tool's type, never dropped", () => {
  for (const type of ["web_search", "file_search", "code_interpreter", "computer_use_preview"]) {
    const { param, message } = refusal({
      tools: [{ type: "function", name: "f" }, { type }],
    });
    assertEquals(param, "tools.1.type");
    assert(message.includes("Built-in tools"), message);
  }
});

Deno.test("background responses, server conversations and prompt templates are refused by name", () => {
  assertEquals(refusal({ background: true }).param, "background");
  assertEquals(refusal({ conversation: "conv_123" }).param, "conversation");
  assertEquals(refusal({ prompt: { id: "pmpt_123" } }).param, "prompt");
  assertEquals(refusal({ truncation: "auto" }).param, "truncation");
});

Deno.test("an input item of a kind the gateway cannot translate is refused by its place", () => {
  const { param, message } = refusal({
    input: [{ role: "user", content: "hi" }, { type: "item_reference", id: "msg_1" }],
  });
  assertEquals(param, "input.1.type");
  assert(message.includes("'function_call_output'"), message);
  assertEquals(
    refusal({ input: [{ role: "user", content: [{ type: "input_file", file_id: "f" }] }] }).param,
    "input.0.content.0.type",
  );
});

Deno.test("the easy message form and background false are accepted", () => {
  const parsed = responsesRequestSchema.parse({
    model: "gpt-4o",
    input: [{ role: "user", content: "hi" }],
    background: false,
    store: false,
    include: ["reasoning.encrypted_content"],
  });
  assertEquals(parsed.input, [{ type: "message", role: "user", content: "hi" }]);
});
