/**
 * @module
 * End-to-end: the real gateway routing public models to `gemini` deployments, on Google AI
 * Studio (a key) and on Vertex AI (a token file, or a service account's key exchanged for a
 * token), all served by the fake Gemini started here,
 * used through the official OpenAI SDK: chat, a stream, a tool call's round trip, embeddings,
 * a prompt blocked for safety; models listed, the provider label, billing from Gemini's usage.
 */
import OpenAI from "openai";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import {
  BLOCKED_WORD,
  createServiceAccountKey,
  FAKE_GEMINI_TEXT,
  FAKE_GEMINI_USAGE,
  FAKE_SIGNATURE,
  fakeGeminiEmbedding,
  startFakeGemini,
} from "./fake_gemini.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-gemini-tests";
const GEMINI_KEY = "AIzaSy-gemini-test-key-never-logged";
const VERTEX_TOKEN = "ya29.vertex-test-token-never-logged";

/** Gemini's counts as the client sees them: thinking is output, the cached part of the prompt is told. */
const PROMPT_TOKENS = FAKE_GEMINI_USAGE.promptTokenCount;
const COMPLETION_TOKENS = FAKE_GEMINI_USAGE.candidatesTokenCount +
  FAKE_GEMINI_USAGE.thoughtsTokenCount;

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    },
  },
};

Deno.test("gemini deployments on AI Studio and Vertex AI answer OpenAI SDK calls: chat, streams, tools, embeddings, a safety block", async () => {
  const serviceAccount = await createServiceAccountKey();
  await using gemini = startFakeGemini({
    apiKey: GEMINI_KEY,
    token: VERTEX_TOKEN,
    serviceAccount,
  });
  const tokenFile = await Deno.makeTempFile();
  await Deno.writeTextFile(tokenFile, `${VERTEX_TOKEN}\n`);
  const keyFile = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(keyFile, serviceAccount.keyFile(`${gemini.url}/token`));
  const vertex = {
    vertex_project: "acme-prod-42",
    vertex_location: "europe-west4",
    vertex_token_file: tokenFile,
  };
  const routes = {
    "gemini-flash": [{ provider: "gemini", model: "gemini-2.5-flash", base_url: gemini.url }],
    "gemini-embed": [{ provider: "gemini", model: "text-embedding-004", base_url: gemini.url }],
    "gemini-vertex": [{
      provider: "gemini",
      model: "gemini-2.5-pro",
      base_url: gemini.url,
      ...vertex,
    }],
    "vertex-service-account": [{
      provider: "gemini",
      model: "gemini-2.5-flash",
      base_url: gemini.url,
      vertex_project: "acme-prod-42",
      vertex_location: "us-central1",
      vertex_credentials_file: keyFile,
    }],
    "vertex-embed": [{
      provider: "gemini",
      model: "text-embedding-005",
      base_url: gemini.url,
      ...vertex,
    }],
  };
  await using gateway = await startGateway({
    env: { ADMIN_TOKEN, MODEL_ROUTES: JSON.stringify(routes), GEMINI_API_KEY: GEMINI_KEY },
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  const models = await client.models.list();
  assertEquals(models.data.map((model) => model.id).sort(), [
    "gemini-embed",
    "gemini-flash",
    "gemini-vertex",
    "vertex-embed",
    "vertex-service-account",
  ]);

  const completion = await client.chat.completions.create({
    model: "gemini-flash",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello" },
    ],
    temperature: 0.2,
    max_tokens: 64,
  });
  assertEquals(completion.choices[0].message.content, FAKE_GEMINI_TEXT);
  assertEquals(completion.choices[0].finish_reason, "stop");
  assertEquals(completion.model, "gemini-flash");
  assertEquals(completion.usage?.prompt_tokens, PROMPT_TOKENS);
  assertEquals(completion.usage?.completion_tokens, COMPLETION_TOKENS);
  assertEquals(completion.usage?.prompt_tokens_details?.cached_tokens, 4);
  const sent = gemini.received[0];
  assertEquals(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
  assertEquals(sent.headers["x-goog-api-key"], GEMINI_KEY);
  assertEquals(sent.headers["authorization"], undefined, "the client's key never goes upstream");
  assertEquals(sent.body, {
    contents: [{ role: "user", parts: [{ text: "Hello" }] }],
    systemInstruction: { parts: [{ text: "Be brief." }] },
    generationConfig: { temperature: 0.2, maxOutputTokens: 64 },
  });

  const stream = await client.chat.completions.create({
    model: "gemini-flash",
    messages: [{ role: "user", content: "Count" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  const finishes: string[] = [];
  let streamedUsage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    if (chunk.usage) streamedUsage = chunk.usage;
  }
  assertEquals(text, "part0 part1 part2 end");
  assertEquals(finishes, ["stop"]);
  assertEquals(streamedUsage?.prompt_tokens, PROMPT_TOKENS);
  assertEquals(streamedUsage?.completion_tokens, COMPLETION_TOKENS);
  assertEquals(gemini.received[1].path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
  assertEquals(gemini.received[1].search, "?alt=sse");

  const asked: OpenAI.ChatCompletionMessageParam[] = [
    { role: "user", content: "What is the weather in Paris?" },
  ];
  const calling = await client.chat.completions.create({
    model: "gemini-flash",
    messages: asked,
    tools: [weatherTool],
    tool_choice: "required",
  });
  assertEquals(calling.choices[0].finish_reason, "tool_calls");
  const toolCall = calling.choices[0].message.tool_calls?.[0];
  assert(toolCall?.type === "function", "a function call");
  assertEquals(toolCall.function.name, "get_weather");
  assertEquals(JSON.parse(toolCall.function.arguments), { city: "Paris" });
  assert(toolCall.id.length > 0, "the call has an id to answer it by");
  assertEquals(gemini.received[2].body?.toolConfig, { functionCallingConfig: { mode: "ANY" } });
  assertEquals(gemini.received[2].body?.tools, [{
    functionDeclarations: [{
      name: "get_weather",
      description: "The weather in a city",
      parametersJsonSchema: weatherTool.function.parameters,
    }],
  }]);

  const answered = await client.chat.completions.create({
    model: "gemini-flash",
    messages: [
      ...asked,
      calling.choices[0].message,
      { role: "tool", tool_call_id: toolCall.id, content: '{"temperature": 21}' },
    ],
    tools: [weatherTool],
  });
  assertEquals(answered.choices[0].message.content, 'The function said {"temperature":21}');
  assertEquals(gemini.received[3].body?.contents, [
    { role: "user", parts: [{ text: "What is the weather in Paris?" }] },
    {
      role: "model",
      parts: [{
        functionCall: { name: "get_weather", args: { city: "Paris" } },
        thoughtSignature: FAKE_SIGNATURE,
      }],
    },
    {
      role: "user",
      parts: [{ functionResponse: { name: "get_weather", response: { temperature: 21 } } }],
    },
  ], "the call goes back with its thought signature, its answer under the call's name");

  const onVertex = await client.chat.completions.create({
    model: "gemini-vertex",
    messages: [{ role: "user", content: "Hi" }],
  });
  assertEquals(onVertex.choices[0].message.content, FAKE_GEMINI_TEXT);
  const toVertex = gemini.received[4];
  assertEquals(
    toVertex.path,
    "/v1/projects/acme-prod-42/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
  );
  assertEquals(toVertex.headers["authorization"], `Bearer ${VERTEX_TOKEN}`, "the token file's");
  assertEquals(toVertex.headers["x-goog-api-key"], undefined, "a token instead of the key");

  const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const totals = await waitFor(async () => {
    const usage = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers,
    })).json();
    return usage.requests >= 5 ? usage : undefined;
  }, { what: "the answers billed", timeoutMs: 15_000 });
  assertEquals(
    [totals.input_tokens, totals.output_tokens],
    [5 * PROMPT_TOKENS, 5 * COMPLETION_TOKENS],
    "billed from Gemini's own usage",
  );

  const vectors = await client.embeddings.create({
    model: "gemini-embed",
    input: ["first text", "second text"],
    dimensions: 4,
    encoding_format: "float",
  });
  assertEquals(vectors.data.map((item) => item.embedding), [
    fakeGeminiEmbedding(0, 4),
    fakeGeminiEmbedding(1, 4),
  ]);
  assertEquals(gemini.received[5].path, "/v1beta/models/text-embedding-004:batchEmbedContents");
  const onVertexVectors = await client.embeddings.create({
    model: "vertex-embed",
    input: ["first text", "second text"],
    encoding_format: "float",
  });
  assertEquals(onVertexVectors.data.length, 2);
  assertEquals(onVertexVectors.usage.prompt_tokens, 4, "Vertex AI's own token counts");
  assertEquals(
    gemini.received[6].path,
    "/v1/projects/acme-prod-42/locations/europe-west4/publishers/google/models/text-embedding-005:predict",
  );

  for (const stream of [false, true]) {
    const blocked = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gemini-flash",
        messages: [{ role: "user", content: `Something ${BLOCKED_WORD}` }],
        stream,
      }),
    });
    assertEquals(blocked.status, 400, `streamed: ${stream}`);
    const refusal = await blocked.json();
    assertEquals(refusal.error.code, "content_filter");
    assertEquals(refusal.error.type, "invalid_request_error");
    assertStringIncludes(refusal.error.message, "Gemini blocked the prompt (SAFETY");
  }
  assertEquals(gemini.received.length, 9, "a blocked prompt is not retried");

  for (let turn = 0; turn < 2; turn++) {
    const minted = await client.chat.completions.create({
      model: "vertex-service-account",
      messages: [{ role: "user", content: "Hi" }],
    });
    assertEquals(minted.choices[0].message.content, FAKE_GEMINI_TEXT);
  }
  const withMinted = gemini.received.at(-1)!;
  assertEquals(
    withMinted.path,
    "/v1/projects/acme-prod-42/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
  );
  assertEquals(withMinted.headers["authorization"], `Bearer ${VERTEX_TOKEN}`);
  assertEquals(gemini.tokensGranted, 1, "the service account's token is exchanged once, then kept");

  // An upstream call is measured at its last byte, which may be just after the client got it.
  await waitFor(async () => {
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    return metrics.includes('gateway_upstream_latency_seconds_count{provider="gemini"')
      ? true
      : undefined;
  }, { what: "the provider label gemini", timeoutMs: 10_000 });

  const lines = gateway.records().map((record) => JSON.stringify(record)).join("\n");
  assert(
    !lines.includes(GEMINI_KEY) && !lines.includes(VERTEX_TOKEN),
    "upstream credentials are never logged",
  );
  const privateKey = JSON.parse(await Deno.readTextFile(keyFile)).private_key as string;
  assert(!lines.includes(privateKey.slice(40, 80)), "the service account's key is never logged");
  await Deno.remove(tokenFile);
  await Deno.remove(keyFile);
});

Deno.test("a failing gemini deployment falls over to the next (Google's 503, whole or streamed, and a key Google refuses) until its circuit opens", async () => {
  await using failing = startFakeGemini({ apiKey: GEMINI_KEY, behaviour: { status: 503 } });
  await using refusing = startFakeGemini({ apiKey: "AIzaSy-another-projects-key" });
  await using healthy = startFakeGemini({ apiKey: GEMINI_KEY });
  const deployment = (name: string, url: string, priority: number) => ({
    name,
    provider: "gemini",
    model: "gemini-2.5-flash",
    base_url: url,
    priority,
  });
  const routes = {
    "gemini-flash": {
      strategy: "priority",
      deployments: [
        deployment("gemini-eu", failing.url, 0),
        deployment("gemini-other-project", refusing.url, 1),
        deployment("gemini-us", healthy.url, 2),
      ],
    },
  };
  await using gateway = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify(routes),
      GEMINI_API_KEY: GEMINI_KEY,
      CIRCUIT_MIN_CALLS: "2",
      CIRCUIT_FAILURE_RATIO: "0.5",
    },
  });
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const messages = [{ role: "user" as const, content: "Hi" }];

  const whole = await client.chat.completions.create({ model: "gemini-flash", messages });
  assertEquals(whole.choices[0].message.content, FAKE_GEMINI_TEXT);
  const streamed = await client.chat.completions.create({
    model: "gemini-flash",
    messages,
    stream: true,
  });
  let text = "";
  for await (const chunk of streamed) text += chunk.choices[0]?.delta?.content ?? "";
  assertEquals(text, "part0 part1 part2 end", "the stream came whole from the last deployment");
  assertEquals(
    [failing.received.length, refusing.received.length, healthy.received.length],
    [2, 2, 2],
    "each request tried every deployment once, in priority order",
  );

  const third = await client.chat.completions.create({ model: "gemini-flash", messages });
  assertEquals(third.choices[0].message.content, FAKE_GEMINI_TEXT);
  assertEquals(
    [failing.received.length, refusing.received.length, healthy.received.length],
    [2, 2, 3],
    "open circuits are passed by without a call",
  );
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  for (const [name, error] of [["gemini-eu", "server_error"], ["gemini-other-project", "auth"]]) {
    const labels = `provider="gemini",model="gemini-2.5-flash",deployment="${name}"`;
    assertStringIncludes(metrics, `gateway_upstream_failures_total{${labels},error="${error}"} 2`);
    assertStringIncludes(metrics, `gateway_circuit_state{${labels}} 2`);
  }
});
