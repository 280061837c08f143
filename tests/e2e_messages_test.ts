/**
 * @module
 * End-to-end: Anthropic's official SDK, unchanged but for `baseURL` and `apiKey`, drives the real
 * gateway's `/v1/messages`: against an OpenAI-format fake upstream (the request and answer
 * translated, streams included) and against an Anthropic-format fake (passed through natively).
 */
import Anthropic from "@anthropic-ai/sdk";
import { assert, assertEquals } from "./assert.ts";
import { FAKE_USAGE, startFakeUpstream } from "./fake_upstream.ts";
import { createTenantWithKey, startGateway } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-messages-tests";
const UPSTREAM_KEY = "sk-upstream-key-never-logged";

const WEATHER_TOOL = {
  name: "get_weather",
  description: "Get the current weather in a given location",
  input_schema: {
    type: "object" as const,
    properties: { location: { type: "string" } },
    required: ["location"],
  },
};

Deno.test("the Anthropic SDK talks to an OpenAI-format upstream through /v1/messages: JSON, a stream, a tool round trip both ways", async () => {
  await using upstream = startFakeUpstream({ toolCalls: true });
  await using gateway = await startGateway({
    env: { ADMIN_TOKEN, OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: UPSTREAM_KEY },
  });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 });

  const message = await client.messages.create({
    model: "gpt-4o-mini",
    max_tokens: 300,
    system: "Be brief.",
    messages: [{ role: "user", content: "Hello" }],
  });
  assertEquals(message.type, "message");
  assertEquals(message.model, "gpt-4o-mini");
  assertEquals(message.content, [{ type: "text", text: "fake answer" }]);
  assertEquals(message.stop_reason, "end_turn");
  assertEquals(message.usage.input_tokens, FAKE_USAGE.prompt_tokens);
  assertEquals(message.usage.output_tokens, FAKE_USAGE.completion_tokens);
  const sent = upstream.received.at(-1)!;
  assertEquals(sent.path, "/v1/chat/completions");
  assertEquals(sent.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  assertEquals(sent.body?.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hello" },
  ]);

  const stream = client.messages.stream({
    model: "gpt-4o-mini",
    max_tokens: 300,
    messages: [{ role: "user", content: "Stream, please" }],
  });
  const deltas: string[] = [];
  stream.on("text", (text) => deltas.push(text));
  const streamed = await stream.finalMessage();
  assertEquals(deltas, ["part0 ", "part1 ", "part2 "]);
  assertEquals(streamed.content, [{ type: "text", text: "part0 part1 part2 " }]);
  assertEquals(streamed.stop_reason, "end_turn");
  assertEquals(streamed.usage.output_tokens, FAKE_USAGE.completion_tokens);

  for (const streaming of [false, true]) {
    const ask = {
      model: "gpt-4o-mini",
      max_tokens: 300,
      tools: [WEATHER_TOOL],
      messages: [{ role: "user" as const, content: "Weather in Paris?" }],
    };
    const call = streaming
      ? await client.messages.stream(ask).finalMessage()
      : await client.messages.create(ask);
    assertEquals(call.stop_reason, "tool_use", `streaming: ${streaming}`);
    const toolUse = call.content.find((block) => block.type === "tool_use");
    assert(toolUse?.type === "tool_use", `streaming: ${streaming}`);
    assertEquals([toolUse.name, toolUse.input], ["get_weather", { location: "Paris" }]);
    const answer = {
      ...ask,
      messages: [
        ...ask.messages,
        { role: "assistant" as const, content: call.content },
        {
          role: "user" as const,
          content: [{ type: "tool_result" as const, tool_use_id: toolUse.id, content: "18°C" }],
        },
      ],
    };
    const final = streaming
      ? await client.messages.stream(answer).finalMessage()
      : await client.messages.create(answer);
    assertEquals(final.stop_reason, "end_turn", `streaming: ${streaming}`);
    assert(final.content.some((block) => block.type === "text"), `streaming: ${streaming}`);
    const toolTurn = upstream.received.at(-1)!.body?.messages as Array<Record<string, unknown>>;
    assertEquals(toolTurn.at(-1), { role: "tool", tool_call_id: toolUse.id, content: "18°C" });
    assertEquals((toolTurn.at(-2)?.tool_calls as unknown[]).length, 1);
  }
});
