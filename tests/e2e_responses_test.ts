/**
 * @module
 * End-to-end: the real gateway serving OpenAI's Responses API through the official `openai`
 * client (`responses.create`, `responses.stream`, a function tool round trip, a conversation by
 * `previous_response_id`), translated for a chat completions upstream and for an Anthropic one,
 * on SQLite and on PostgreSQL; passed through to a native Responses deployment; stored per tenant,
 * refused for what it cannot do, and deleted after the retention.
 */
import OpenAI from "openai";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { startFakeAnthropic } from "./fake_anthropic.ts";
import { FAKE_USAGE, startFakeUpstream } from "./fake_upstream.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-responses-tests";

const WEATHER_TOOL = {
  type: "function" as const,
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { location: { type: "string" } } },
  strict: false,
};

/** What one upstream answers, as the client should see it. */
interface Expected {
  text: string;
  /** The text of a streamed answer. */
  streamedText: string;
  usage: { input_tokens: number; output_tokens: number };
  /** The chat messages (or Anthropic turns) the upstream got last. */
  lastTurns: () => unknown[];
}

function client(gateway: { url: string }, key: string): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
}

function outputText(response: OpenAI.Responses.Response): string {
  return response.output.flatMap((item) =>
    item.type === "message"
      ? item.content.map((part) => part.type === "output_text" ? part.text : "")
      : []
  ).join("");
}

/** Drives every client call of the issue against `model`, checking what a user would see. */
async function exerciseResponses(openai: OpenAI, model: string, expected: Expected) {
  const first = await openai.responses.create({
    model,
    instructions: "Be brief.",
    input: "Who are you?",
  });
  assertEquals(first.status, "completed");
  assertEquals(first.object, "response");
  assertEquals(first.model, model);
  assertEquals(first.output_text, expected.text);
  assertEquals(first.usage?.input_tokens, expected.usage.input_tokens);
  assertEquals(first.usage?.output_tokens, expected.usage.output_tokens);
  assertEquals(first.usage?.input_tokens_details.cached_tokens, 0);

  const retrieved = await openai.responses.retrieve(first.id);
  assertEquals(retrieved.output, first.output);

  const second = await openai.responses.create({
    model,
    input: "And what can you do?",
    previous_response_id: first.id,
  });
  assertEquals(second.previous_response_id, first.id);
  const turns = JSON.stringify(expected.lastTurns());
  for (const earlier of ["Who are you?", expected.text, "And what can you do?"]) {
    assertStringIncludes(turns, earlier, "the upstream got the whole conversation");
  }
  const items = await openai.responses.inputItems.list(second.id);
  assertEquals(items.data.length, 1, "a response's input items are its own");
  assertEquals(items.data[0].type, "message");

  const stream = openai.responses.stream({ model, input: "Tell me more." });
  const types: string[] = [];
  let deltas = "";
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === "response.output_text.delta") deltas += event.delta;
  }
  const streamed = await stream.finalResponse();
  assertEquals(types.slice(0, 2), ["response.created", "response.in_progress"]);
  assertEquals(types.at(-1), "response.completed");
  assertEquals(deltas, expected.streamedText);
  assertEquals(outputText(streamed), expected.streamedText);
  assertEquals((await openai.responses.retrieve(streamed.id)).status, "completed");

  const asked = await openai.responses.create({
    model,
    input: "What is the weather in San Francisco?",
    tools: [WEATHER_TOOL],
  });
  const call = asked.output.find((item) => item.type === "function_call");
  assert(call?.type === "function_call", "the model called the tool");
  const answered = await openai.responses.create({
    model,
    previous_response_id: asked.id,
    input: [{ type: "function_call_output", call_id: call.call_id, output: "18 degrees, sunny" }],
    tools: [WEATHER_TOOL],
  });
  assertEquals(answered.output_text, expected.text);
  const roundTrip = JSON.stringify(expected.lastTurns());
  assertStringIncludes(roundTrip, call.call_id);
  assertStringIncludes(roundTrip, "18 degrees, sunny");

  // The SDK types the answer as void; the body is OpenAI's deletion object all the same.
  const deleted: unknown = await openai.responses.delete(first.id);
  assertEquals(deleted, { id: first.id, object: "response", deleted: true });
  const gone = await assertRejects(() => openai.responses.retrieve(first.id));
  assert(gone instanceof OpenAI.APIError && gone.status === 404);
}

/** The gateway on `databaseUrl` (SQLite when undefined) routing `gpt-4o` to a chat upstream. */
async function chatUpstreamCase(databaseUrl: string | undefined) {
  await using upstream = startFakeUpstream({ toolCalls: true });
  const routes = {
    "gpt-4o": [{ provider: "openai", model: "upstream-model", base_url: upstream.url }],
  };
  await using gateway = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify(routes),
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    },
  });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  await exerciseResponses(client(gateway, key), "gpt-4o", {
    text: "fake answer",
    streamedText: "part0 part1 part2 ",
    usage: { input_tokens: FAKE_USAGE.prompt_tokens, output_tokens: FAKE_USAGE.completion_tokens },
    lastTurns: () => upstream.received.at(-1)?.body?.messages as unknown[],
  });
  assert(upstream.received.every((request) => request.path === "/v1/chat/completions"));
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assertStringIncludes(metrics, 'path="/v1/responses"');
}

async function anthropicUpstreamCase(databaseUrl: string | undefined) {
  await using anthropic = await startFakeAnthropic();
  const routes = { "claude-sonnet": [{ provider: "anthropic", model: "claude-sonnet-4-5" }] };
  await using gateway = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify(routes),
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_API_KEY: "sk-ant-responses-test",
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    },
  });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  await exerciseResponses(client(gateway, key), "claude-sonnet", {
    text: "Hi! My name is Claude. How can I help?",
    streamedText: "Hello!",
    usage: { input_tokens: 2095, output_tokens: 503 },
    lastTurns: () => anthropic.received.at(-1)?.body.messages as unknown[],
  });
}

Deno.test("the Responses API on a chat completions upstream, on SQLite", async () => {
  await chatUpstreamCase(undefined);
});

Deno.test("the Responses API on a chat completions upstream, on PostgreSQL", async () => {
  await using database = await createDatabase();
  await chatUpstreamCase(database.url);
});

Deno.test("the Responses API on an Anthropic upstream, on SQLite", async () => {
  await anthropicUpstreamCase(undefined);
});

Deno.test("the Responses API on an Anthropic upstream, on PostgreSQL", async () => {
  await using database = await createDatabase();
  await anthropicUpstreamCase(database.url);
});

Deno.test("a native Responses deployment gets the client's body and answers untouched", async () => {
  await using upstream = startFakeUpstream();
  const routes = {
    "gpt-5": [{
      provider: "openai",
      model: "upstream-model",
      base_url: upstream.url,
      api: "responses",
    }],
  };
  await using gateway = await startGateway({
    env: { ADMIN_TOKEN, MODEL_ROUTES: JSON.stringify(routes) },
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const openai = client(gateway, key);

  const first = await openai.responses.create({
    model: "gpt-5",
    input: "Hi",
    include: ["reasoning.encrypted_content"],
    metadata: { ticket: "42" },
  });
  assertEquals(first.output_text, "fake native answer");
  assert(first.id.startsWith("resp_fake_"), "the upstream's own answer");
  assertEquals(upstream.received[0].path, "/v1/responses");
  assertEquals(upstream.received[0].body, {
    model: "upstream-model",
    input: "Hi",
    include: ["reasoning.encrypted_content"],
    metadata: { ticket: "42" },
  });

  const stream = openai.responses.stream({
    model: "gpt-5",
    input: "Again",
    previous_response_id: first.id,
  });
  const streamed = await stream.finalResponse();
  assertEquals(outputText(streamed), "fake native answer");
  const sent = upstream.received[1].body!;
  assertEquals(sent.previous_response_id, undefined, "the gateway sends the conversation itself");
  const [firstInput, firstOutput, newInput] = sent.input as Array<Record<string, unknown>>;
  assertEquals(firstInput, { type: "message", role: "user", content: "Hi" }, "no made-up ids");
  assertEquals(firstOutput.id, "msg_fake", "the upstream's own output item");
  assertEquals(newInput, { type: "message", role: "user", content: "Again" });
  assertEquals((await openai.responses.retrieve(streamed.id)).id, streamed.id);

  const usage = await waitFor(async () => {
    const response = await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const body = await response.json();
    return body.requests === 2 ? body : undefined;
  }, { what: "both native answers billed" });
  assertEquals(usage.input_tokens, 22);
});

Deno.test("stored responses belong to their tenant: another tenant's id is a 404 everywhere", async () => {
  await using gateway = await startGateway({ env: { ADMIN_TOKEN } });
  const alice = await createTenantWithKey(gateway, ADMIN_TOKEN, { name: "alice" });
  const bob = await createTenantWithKey(gateway, ADMIN_TOKEN, { name: "bob" });
  const model = "mock-gpt";
  const kept = await client(gateway, alice.key).responses.create({ model, input: "A secret" });
  const intruder = client(gateway, bob.key);
  const attempts: Array<() => Promise<unknown>> = [
    () => intruder.responses.retrieve(kept.id),
    () => intruder.responses.inputItems.list(kept.id),
    () => intruder.responses.delete(kept.id),
    () => intruder.responses.create({ model, input: "Go on", previous_response_id: kept.id }),
  ];
  for (const attempt of attempts) {
    const error = await assertRejects(attempt);
    assert(error instanceof OpenAI.APIError && error.status === 404, String(error));
    assertEquals((error.error as { code?: string }).code, "response_not_found");
  }
  assertEquals((await client(gateway, alice.key).responses.retrieve(kept.id)).id, kept.id);
});

Deno.test("what the gateway cannot do is refused with a 400 naming the parameter", async () => {
  await using gateway = await startGateway({ env: { ADMIN_TOKEN } });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ tools: [{ type: "web_search" }] }, "tools.0.type"],
    [
      { tools: [WEATHER_TOOL, { type: "code_interpreter", container: { type: "auto" } }] },
      "tools.1.type",
    ],
    [{ tools: [{ type: "file_search", vector_store_ids: ["vs_1"] }] }, "tools.0.type"],
    [{ background: true }, "background"],
  ];
  for (const [extra, param] of cases) {
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-gpt", input: "Hi", ...extra }),
    });
    assertEquals(response.status, 400);
    const body = await response.json();
    assertEquals([body.error.type, body.error.param], ["invalid_request_error", param]);
  }
  const unstored = await client(gateway, key).responses.create({
    model: "mock-gpt",
    input: "Hi",
    store: false,
  });
  const error = await assertRejects(() => client(gateway, key).responses.retrieve(unstored.id));
  assert(error instanceof OpenAI.APIError && error.status === 404, "store: false keeps nothing");
});

Deno.test("responses older than RESPONSES_RETENTION are deleted", async () => {
  await using gateway = await startGateway({
    env: { ADMIN_TOKEN, RESPONSES_RETENTION: "1 second" },
  });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN);
  const openai = client(gateway, key);
  const kept = await openai.responses.create({ model: "mock-gpt", input: "Hi" });
  await waitFor(async () => {
    try {
      await openai.responses.retrieve(kept.id);
      return undefined;
    } catch (error) {
      return error instanceof OpenAI.APIError && error.status === 404 ? true : undefined;
    }
  }, { what: "the response deleted by the retention sweep" });
  const swept = await gateway.waitForRecord((record) => record.message === "responses_expired");
  assertEquals(swept.deleted, 1);
});
