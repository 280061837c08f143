/**
 * @module
 * End-to-end: the real gateway routing a public model to a `bedrock` deployment (the fake
 * Bedrock started here, which checks every call's SigV4 signature on its own and answers the
 * fixtures written from AWS's reference, streams as real event-stream binary), used through the
 * official OpenAI SDK: chat, a stream, a tool round trip, the model list, billing from Bedrock's
 * usage, the metrics' labels; a wrong secret refused; a failing Bedrock deployment falling back to
 * a Gemini one (the fake Gemini); and Anthropic's SDK through `/v1/messages`.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import {
  type BedrockCall,
  bedrockError,
  eventStreamResponse,
  startFakeBedrock,
  type StreamMessage,
} from "./fake_bedrock.ts";
import { FAKE_GEMINI_TEXT, FAKE_GEMINI_USAGE, startFakeGemini } from "./fake_gemini.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-bedrock-tests";
const AWS = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "bedrock-e2e-secret-never-logged/K7MDENG",
  sessionToken: "bedrock-e2e-session-token-never-logged",
  region: "eu-central-1",
};
const MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const GEMINI_KEY = "AIzaSy-gemini-fallback-key-never-logged";
const FIXTURES = new URL("../src/providers/testdata/bedrock/", import.meta.url);

/** Fixture JSON, as parsed. */
type Json = ReturnType<typeof JSON.parse>;

async function fixture(name: string): Promise<Json> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, FIXTURES)));
}

const FINAL_ANSWER = {
  output: {
    message: {
      role: "assistant",
      content: [{ text: "WZPZ plays Elemental Hotel by 8 Storey Hike." }],
    },
  },
  stopReason: "end_turn",
  usage: { inputTokens: 420, outputTokens: 12, totalTokens: 432 },
};

/** The fake's answers: a tool call while tools are offered and no result came, else text. */
async function answers(): Promise<(call: BedrockCall) => Response> {
  const text = await fixture("response_text");
  const toolUse = await fixture("response_tool_use");
  const stream = await fixture("stream_text");
  return (call) => {
    const body = JSON.stringify(call.body);
    if (call.operation === "converse-stream") {
      return eventStreamResponse(stream.messages as StreamMessage[], 5);
    }
    if (body.includes("toolResult")) return Response.json(FINAL_ANSWER);
    if (body.includes("toolConfig")) return Response.json(toolUse.bedrock);
    return Response.json(text.bedrock);
  };
}

function environment(fakeUrl: string, secretAccessKey = AWS.secretAccessKey) {
  const routes = {
    "claude-sonnet": [{
      name: "bedrock-frankfurt",
      provider: "bedrock",
      model: MODEL_ID,
      region: AWS.region,
      base_url: fakeUrl,
    }],
  };
  return {
    ADMIN_TOKEN,
    MODEL_ROUTES: JSON.stringify(routes),
    AWS_ACCESS_KEY_ID: AWS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: AWS.sessionToken,
    // The deployment's own region wins over the environment's.
    AWS_REGION: "us-east-1",
  };
}

Deno.test("a bedrock deployment answers OpenAI SDK calls: chat, a stream, a tool round trip, billed from its usage", async () => {
  await using bedrock = startFakeBedrock({ ...AWS, answer: await answers() });
  await using gateway = await startGateway({ env: environment(bedrock.url) });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  const models = await client.models.list();
  assertEquals(models.data.map((model) => model.id), ["claude-sonnet"]);
  assertEquals(models.data[0].owned_by, "bedrock");

  const text = await fixture("response_text");
  const completion = await client.chat.completions.create({
    model: "claude-sonnet",
    messages: [{ role: "system", content: "Only song names." }, {
      role: "user",
      content: "Create a list of 3 pop songs.",
    }],
    max_tokens: 200,
  });
  assertEquals(completion.choices[0].message.content, text.openai.choices[0].message.content);
  assertEquals(completion.usage?.prompt_tokens, 125);
  const sent = bedrock.received[0];
  assertEquals([sent.operation, sent.modelId], ["converse", MODEL_ID]);
  assertEquals(sent.body, {
    messages: [{ role: "user", content: [{ text: "Create a list of 3 pop songs." }] }],
    system: [{ text: "Only song names." }],
    inferenceConfig: { maxTokens: 200 },
  });
  assertEquals(sent.headers["authorization"]?.includes(key), false, "the client's key stays here");
  assertStringIncludes(sent.headers["authorization"], `/${AWS.region}/bedrock/aws4_request`);

  const stream = await client.chat.completions.create({
    model: "claude-sonnet",
    messages: [{ role: "user", content: "Create a list of 3 pop songs." }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let streamed = "";
  let usage: OpenAI.CompletionUsage | undefined;
  const finishes: string[] = [];
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    usage = chunk.usage ?? usage;
  }
  assertEquals(streamed, 'Here is a list of 3 pop songs:\n\n1. "As It Was" by Harry Styles');
  assertEquals(finishes, ["stop"]);
  assertEquals(usage?.prompt_tokens, 1025);
  assertEquals(usage?.prompt_tokens_details?.cached_tokens, 1000);
  assertEquals(bedrock.received[1].operation, "converse-stream");

  const tools: OpenAI.ChatCompletionTool[] = [{
    type: "function",
    function: {
      name: "top_song",
      description: "Get the most popular song played on a radio station.",
      parameters: { type: "object", properties: { sign: { type: "string" } }, required: ["sign"] },
    },
  }];
  const question: OpenAI.ChatCompletionMessageParam = {
    role: "user",
    content: "What is the most popular song on WZPZ?",
  };
  const asked = await client.chat.completions.create({
    model: "claude-sonnet",
    messages: [question],
    tools,
  });
  assertEquals(asked.choices[0].finish_reason, "tool_calls");
  const toolCall = asked.choices[0].message.tool_calls?.[0];
  assert(toolCall?.type === "function");
  assertEquals([toolCall.id, toolCall.function.name], [
    "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
    "top_song",
  ]);
  assertEquals(JSON.parse(toolCall.function.arguments), { sign: "WZPZ" });
  const answered = await client.chat.completions.create({
    model: "claude-sonnet",
    messages: [question, asked.choices[0].message, {
      role: "tool",
      tool_call_id: toolCall.id,
      content: "Elemental Hotel by 8 Storey Hike",
    }],
    tools,
  });
  assertEquals(answered.choices[0].message.content, FINAL_ANSWER.output.message.content[0].text);
  const roundTrip = bedrock.received[3].body as Json;
  assertEquals(roundTrip.messages[1].content[1].toolUse, {
    toolUseId: toolCall.id,
    name: "top_song",
    input: { sign: "WZPZ" },
  });
  assertEquals(roundTrip.messages[2].content[0].toolResult, {
    toolUseId: toolCall.id,
    content: [{ text: "Elemental Hotel by 8 Storey Hike" }],
  }, "the tool call's id comes back as the result's toolUseId");
  assertEquals(bedrock.refused, 0, "every call's signature was the fake's own");

  // An upstream call is measured at its last byte, which may be just after the client got it.
  const series =
    `gateway_upstream_latency_seconds_count{provider="bedrock",model="${MODEL_ID}",deployment="bedrock-frankfurt",success="true"}`;
  await waitFor(async () => {
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    return metrics.includes(`${series} 4`) ? true : undefined;
  }, { what: "four bedrock calls under the bedrock labels", timeoutMs: 10_000 });

  const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const totals = await waitFor(async () => {
    const usage = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers,
    })).json();
    return usage.requests >= 4 ? usage : undefined;
  }, { what: "the answers billed", timeoutMs: 15_000 });
  assertEquals(totals.input_tokens, 125 + 1025 + 375 + 420, "billed from Bedrock's own usage");
  assertEquals(totals.output_tokens, 60 + 19 + 67 + 12);
  const lines = gateway.records().map((record) => JSON.stringify(record)).join("\n");
  assert(
    !lines.includes(AWS.secretAccessKey) && !lines.includes(AWS.sessionToken),
    "AWS secrets are never logged",
  );
});

Deno.test("a gateway signing with a wrong secret is refused by Bedrock's check, and says so without the secret", async () => {
  await using bedrock = startFakeBedrock({
    ...AWS,
    answer: () => bedrockError(500, "X", "unused"),
  });
  const wrongSecret = "bedrock-e2e-wrong-secret-never-logged";
  await using gateway = await startGateway({ env: environment(bedrock.url, wrongSecret) });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-sonnet", messages: [{ role: "user", content: "Hi" }] }),
  });
  assertEquals(response.status, 502);
  const body = await response.json();
  assertEquals(body.error.code, "upstream_auth");
  assert(bedrock.refused >= 1 && bedrock.received.length === 0, "refused for its signature");
  const lines = gateway.records().map((record) => JSON.stringify(record)).join("\n");
  assert(!lines.includes(wrongSecret) && !JSON.stringify(body).includes(wrongSecret));
});

Deno.test("a failing bedrock deployment falls back to a gemini one: a server error, a throttling, a stream throttled at its start", async () => {
  // Bedrock's answers, one per call: a server error, a throttling, a stream throttled at once.
  const failures = [
    () => bedrockError(500, "InternalServerException", "Internal server error"),
    () => bedrockError(429, "ThrottlingException", "Too many requests, please wait."),
    () =>
      eventStreamResponse([
        { exception: "throttlingException", payload: { message: "Too many tokens." } },
      ]),
  ];
  await using bedrock = startFakeBedrock({
    ...AWS,
    answer: () =>
      failures.shift()?.() ?? bedrockError(500, "InternalServerException", "Unexpected call"),
  });
  await using gemini = startFakeGemini({ apiKey: GEMINI_KEY });
  const routes = {
    "claude-or-gemini": {
      strategy: "priority",
      deployments: [
        {
          name: "bedrock-primary",
          provider: "bedrock",
          model: MODEL_ID,
          region: AWS.region,
          base_url: bedrock.url,
        },
        {
          name: "gemini-backup",
          provider: "gemini",
          model: "gemini-2.5-flash",
          base_url: gemini.url,
          priority: 1,
        },
      ],
    },
  };
  await using gateway = await startGateway({
    env: {
      ...environment(bedrock.url),
      MODEL_ROUTES: JSON.stringify(routes),
      GEMINI_API_KEY: GEMINI_KEY,
      // The circuit stays closed, so that every request tries Bedrock first.
      CIRCUIT_MIN_CALLS: "1000",
    },
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Hello" }];

  const afterServerError = await client.chat.completions.create({
    model: "claude-or-gemini",
    messages,
  });
  assertEquals(afterServerError.choices[0].message.content, FAKE_GEMINI_TEXT);
  const afterThrottling = await client.chat.completions.create({
    model: "claude-or-gemini",
    messages,
  });
  assertEquals(afterThrottling.choices[0].message.content, FAKE_GEMINI_TEXT);
  const stream = await client.chat.completions.create({
    model: "claude-or-gemini",
    messages,
    stream: true,
  });
  let streamed = "";
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
  assert(streamed.length > 0, "the stream came from Gemini");
  assertEquals(bedrock.received.length, 3, "Bedrock was tried first, once, each time");
  assertEquals(bedrock.refused, 0);
  assertEquals(gemini.received.length, 3, "Gemini answered each request once");

  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  const bedrockLabels = `provider="bedrock",model="${MODEL_ID}",deployment="bedrock-primary"`;
  for (const [error, count] of [["server_error", 1], ["rate_limited", 2]] as const) {
    assertStringIncludes(
      metrics,
      `gateway_upstream_failures_total{${bedrockLabels},error="${error}"} ${count}`,
      `the bedrock deployment's ${error} counted`,
    );
    assertStringIncludes(
      metrics,
      `gateway_upstream_retries_total{model="claude-or-gemini",kind="fallback",error="${error}"} ${count}`,
    );
  }
  await waitFor(async () => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return text.includes(
        `gateway_upstream_latency_seconds_count{provider="gemini",model="gemini-2.5-flash",deployment="gemini-backup",success="true"} 3`,
      )
      ? true
      : undefined;
  }, { what: "three answers from the gemini deployment", timeoutMs: 10_000 });
  const totals = await waitFor(async () => {
    const usage = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })).json();
    return usage.requests >= 3 ? usage : undefined;
  }, { what: "the answers billed", timeoutMs: 15_000 });
  assertEquals(totals.requests, 3, "each request billed once, for the attempt that answered");
  assertEquals(
    totals.input_tokens,
    3 * FAKE_GEMINI_USAGE.promptTokenCount,
    "billed from Gemini's usage",
  );
});

Deno.test("the Anthropic SDK reaches a bedrock deployment through /v1/messages, JSON and streamed", async () => {
  await using bedrock = startFakeBedrock({ ...AWS, answer: await answers() });
  await using gateway = await startGateway({ env: environment(bedrock.url) });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 });
  const text = await fixture("response_text");

  const message = await client.messages.create({
    model: "claude-sonnet",
    max_tokens: 300,
    system: "Only song names.",
    messages: [{ role: "user", content: "Create a list of 3 pop songs." }],
  });
  assertEquals(message.content, [{
    type: "text",
    text: text.openai.choices[0].message.content,
  }]);
  assertEquals([message.stop_reason, message.usage.input_tokens], ["end_turn", 125]);
  assertEquals(bedrock.received[0].body?.system, [{ text: "Only song names." }]);

  const stream = client.messages.stream({
    model: "claude-sonnet",
    max_tokens: 300,
    messages: [{ role: "user", content: "Create a list of 3 pop songs." }],
  });
  const streamed = await stream.finalMessage();
  assertEquals(streamed.content, [{
    type: "text",
    text: 'Here is a list of 3 pop songs:\n\n1. "As It Was" by Harry Styles',
  }]);
  assertEquals(streamed.usage.cache_read_input_tokens, 1000, "Bedrock's cache reads, told");
  assertEquals(bedrock.received[1].operation, "converse-stream");
});
