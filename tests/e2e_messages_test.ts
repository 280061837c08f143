/**
 * @module
 * End-to-end: Anthropic's official SDK, unchanged but for `baseURL` and `apiKey`, drives the real
 * gateway's `/v1/messages`: against an OpenAI-format fake upstream (the request and answer
 * translated, streams included) and against an Anthropic-format fake (passed through natively).
 */
import Anthropic from "@anthropic-ai/sdk";
import { assert, assertEquals } from "./assert.ts";
import { FAKE_USAGE, startFakeUpstream } from "./fake_upstream.ts";
import {
  createTenantWithKey,
  type GatewayProcess,
  startGateway,
  waitFor,
} from "./gateway_process.ts";

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

  // The same observability as chat: the route's own label, a request_completed line with usage.
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert(
    metrics.includes('gateway_request_total{path="/v1/messages",method="POST",status="200"} 6'),
    metrics.split("\n").filter((line) => line.startsWith("gateway_request_total")).join("\n"),
  );
  const completed = await gateway.waitForRecord((record) =>
    record.message === "request_completed" && record.path === "/v1/messages"
  );
  assertEquals(completed.model, "gpt-4o-mini");
  assertEquals(completed.tokens, {
    input: FAKE_USAGE.prompt_tokens,
    output: FAKE_USAGE.completion_tokens,
  });
});

const ANTHROPIC_KEY = "sk-ant-upstream-key-never-logged";

interface AnthropicReceived {
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** The usage of every answer of the fake Anthropic API: a prompt mostly read from the cache. */
const ANTHROPIC_USAGE = {
  input_tokens: 12,
  cache_creation_input_tokens: 300,
  cache_read_input_tokens: 2000,
  output_tokens: 9,
};

function sseEvent(data: Record<string, unknown>): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * A fake Anthropic Messages API: a request offering tools that does not end in a tool's result
 * gets a `tool_use` of its first tool, any other a text; as JSON or as Anthropic's events.
 */
function startFakeAnthropic() {
  const received: AnthropicReceived[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    const body = await request.json();
    received.push({ path, headers: Object.fromEntries(request.headers), body });
    if (path === "/v1/messages/count_tokens") return Response.json({ input_tokens: 42 });
    const last = body.messages.at(-1);
    const answeredTool = Array.isArray(last.content) &&
      last.content.some((block: { type: string }) => block.type === "tool_result");
    const tool = body.tools?.[0]?.name;
    const block = tool && !answeredTool
      ? { type: "tool_use", id: "toolu_fake_1", name: tool, input: { location: "Paris" } }
      : { type: "text", text: "Bonjour" };
    const stopReason = block.type === "tool_use" ? "tool_use" : "end_turn";
    const message = {
      id: "msg_fake_1",
      type: "message",
      role: "assistant",
      model: body.model,
      content: [block],
      stop_reason: stopReason,
      stop_sequence: null,
      usage: ANTHROPIC_USAGE,
    };
    if (!body.stream) return Response.json(message);
    const { output_tokens: _, ...startUsage } = ANTHROPIC_USAGE;
    const start = block.type === "tool_use" ? { ...block, input: {} } : { type: "text", text: "" };
    const delta = block.type === "tool_use"
      ? { type: "input_json_delta", partial_json: JSON.stringify(block.input) }
      : { type: "text_delta", text: "Bonjour" };
    const events = [
      sseEvent({
        type: "message_start",
        message: {
          ...message,
          content: [],
          stop_reason: null,
          usage: { ...startUsage, output_tokens: 1 },
        },
      }),
      sseEvent({ type: "content_block_start", index: 0, content_block: start }),
      sseEvent({ type: "ping" }),
      sseEvent({ type: "content_block_delta", index: 0, delta }),
      sseEvent({ type: "content_block_stop", index: 0 }),
      sseEvent({
        type: "message_delta",
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: ANTHROPIC_USAGE.output_tokens },
      }),
      sseEvent({ type: "message_stop" }),
    ];
    return new Response(events.join(""), { headers: { "content-type": "text/event-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

async function anthropicGateway(anthropicUrl: string, env: Record<string, string> = {}) {
  const routes = {
    "claude-sonnet": [{ provider: "anthropic", model: "claude-sonnet-4-5-20250929" }],
  };
  return await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify(routes),
      ANTHROPIC_BASE_URL: anthropicUrl,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ...env,
    },
  });
}

Deno.test("the Anthropic SDK talks to an anthropic deployment natively: JSON, a stream, a tool round trip both ways, count_tokens", async () => {
  await using anthropic = startFakeAnthropic();
  await using gateway = await anthropicGateway(anthropic.url);
  const { key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 });

  const message = await client.messages.create(
    {
      model: "claude-sonnet",
      max_tokens: 300,
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: "Hello" }],
    },
    {
      headers: { "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31" },
    },
  );
  assertEquals(message.content, [{ type: "text", text: "Bonjour" }]);
  assertEquals(message.usage.cache_read_input_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
  const sent = anthropic.received.at(-1)!;
  assertEquals(sent.path, "/v1/messages");
  assertEquals(sent.headers["x-api-key"], ANTHROPIC_KEY, "the upstream's key, never the client's");
  assertEquals(sent.headers["anthropic-version"], "2023-06-01", "the client's version");
  assertEquals(sent.headers["anthropic-beta"], "prompt-caching-2024-07-31");
  assertEquals(sent.body.model, "claude-sonnet-4-5-20250929");
  assertEquals(sent.body.system, [{
    type: "text",
    text: "Be brief.",
    cache_control: { type: "ephemeral" },
  }]);

  const streamed = await client.messages.stream({
    model: "claude-sonnet",
    max_tokens: 300,
    messages: [{ role: "user", content: "Stream, please" }],
  }).finalMessage();
  assertEquals(streamed.content, [{ type: "text", text: "Bonjour" }]);
  assertEquals(streamed.usage.output_tokens, ANTHROPIC_USAGE.output_tokens);

  for (const streaming of [false, true]) {
    const ask = {
      model: "claude-sonnet",
      max_tokens: 300,
      tools: [WEATHER_TOOL],
      messages: [{ role: "user" as const, content: "Weather in Paris?" }],
    };
    const call = streaming
      ? await client.messages.stream(ask).finalMessage()
      : await client.messages.create(ask);
    const toolUse = call.content[0];
    assert(toolUse.type === "tool_use", `streaming: ${streaming}`);
    assertEquals([call.stop_reason, toolUse.input], ["tool_use", { location: "Paris" }]);
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
    assertEquals(final.content, [{ type: "text", text: "Bonjour" }], `streaming: ${streaming}`);
    assertEquals(anthropic.received.at(-1)!.body.messages, answer.messages);
  }

  const counted = await client.messages.countTokens({
    model: "claude-sonnet",
    messages: [{ role: "user", content: "How many?" }],
  });
  assertEquals(counted.input_tokens, 42);
  assertEquals(anthropic.received.at(-1)!.path, "/v1/messages/count_tokens");
});

Deno.test("the built-in mock answers Messages too; count_tokens without an Anthropic deployment is the gateway's own estimate, never billed", async () => {
  await using gateway = await startGateway({ env: { ADMIN_TOKEN } });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 1 });
  const client = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 });
  const streamed = await client.messages.stream({
    model: "mock-gpt",
    max_tokens: 100,
    messages: [{ role: "user", content: "Hello mock" }],
  }).finalMessage();
  const text = streamed.content.map((block) => block.type === "text" ? block.text : "").join("");
  assert(text.includes("Hello mock"), text);
  assert(streamed.usage.output_tokens > 0, "the mock's usage reaches message_delta");
  const billed = await waitFor(async () => {
    const totals = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })).json();
    return totals.requests === 1 ? totals : undefined;
  }, { what: "the mock's stream billed" });

  const counted = await client.messages.countTokens({
    model: "mock-gpt",
    system: "You are terse.",
    messages: [{ role: "user", content: "Count these words for me, please." }],
  });
  assert(counted.input_tokens > 5 && counted.input_tokens < 40, String(counted.input_tokens));
  const usage = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  })).json();
  assertEquals(usage.requests, billed.requests, "counting billed nothing");
});

const MASTER_KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

async function admin(gateway: GatewayProcess, method: string, path: string, body: unknown) {
  const response = await fetch(`${gateway.url}/internal${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert(response.ok, `${method} ${path}: ${response.status}`);
  return await response.json();
}

/** The SDK's error of a call that must fail, with Anthropic's body it read. */
async function refusal(call: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await call;
  } catch (error) {
    assert(error instanceof Anthropic.APIError, String(error));
    return error;
  }
  throw new Error("The call succeeded");
}

function errorType(error: InstanceType<typeof Anthropic.APIError>): unknown {
  return (error.error as { type: string; error: { type: string } }).error.type;
}

Deno.test("every refusal answers Anthropic's error body with its status, and the SDK raises the matching error class", async () => {
  await using healthy = startFakeUpstream();
  await using broken = startFakeUpstream({ status: 500 });
  const routes = {
    "gpt-4o": [{ provider: "openai", model: "gpt-4o", base_url: healthy.url }],
    "flaky": [{ provider: "openai", model: "flaky", base_url: broken.url }],
  };
  await using gateway = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify(routes),
      SIGNING_MASTER_KEY: MASTER_KEY,
      CIRCUIT_MIN_CALLS: "2",
      CIRCUIT_FAILURE_RATIO: "0.5",
      CIRCUIT_COOLDOWN_MS: "60000",
      UPSTREAM_MAX_ATTEMPTS: "1",
    },
  });
  const { key, tenantId, keyId } = await createTenantWithKey(gateway, ADMIN_TOKEN, {
    balance_usd: 100,
  });
  const sdk = (apiKey: string) => new Anthropic({ apiKey, baseURL: gateway.url, maxRetries: 0 });
  const ask = {
    model: "gpt-4o",
    max_tokens: 100,
    messages: [{ role: "user" as const, content: "Hi" }],
  };

  const missing = await fetch(`${gateway.url}/v1/messages`, {
    method: "POST",
    body: JSON.stringify(ask),
  });
  assertEquals(missing.status, 401);
  const missingBody = await missing.json();
  assertEquals(missingBody.type, "error");
  assertEquals(missingBody.error.type, "authentication_error");
  assert(missingBody.error.message.includes("x-api-key"), missingBody.error.message);

  const badKey = await refusal(sdk("gw-not-a-real-key").messages.create(ask));
  assert(badKey instanceof Anthropic.AuthenticationError);
  assertEquals([badKey.status, errorType(badKey)], [401, "authentication_error"]);

  const signed = await admin(gateway, "POST", `/tenants/${tenantId}/keys`, {
    name: "signed",
    require_signature: true,
  });
  const unsigned = await refusal(sdk(signed.key).messages.create(ask));
  assert(unsigned instanceof Anthropic.AuthenticationError);
  assertEquals(errorType(unsigned), "authentication_error");

  const invalid = await refusal(sdk(key).messages.create({ ...ask, max_tokens: 0 }));
  assert(invalid instanceof Anthropic.BadRequestError);
  assertEquals([invalid.status, errorType(invalid)], [400, "invalid_request_error"]);
  assert(invalid.message.includes("max_tokens"), invalid.message);

  const poor = await admin(gateway, "POST", "/tenants", { name: "poor", balance_usd: 0 });
  const poorKey = await admin(gateway, "POST", `/tenants/${poor.id}/keys`, { name: "k" });
  const quota = await refusal(sdk(poorKey.key).messages.create(ask));
  assert(quota instanceof Anthropic.RateLimitError);
  assertEquals([quota.status, errorType(quota)], [429, "billing_error"]);

  await admin(gateway, "PATCH", `/keys/${keyId}`, { rpm_limit: 1 });
  await sdk(key).messages.create(ask);
  const limited = await refusal(sdk(key).messages.create(ask));
  assert(limited instanceof Anthropic.RateLimitError);
  assertEquals(errorType(limited), "rate_limit_error");
  assert(Number(limited.headers?.get("retry-after")) >= 1);
  assertEquals(limited.headers?.get("anthropic-ratelimit-requests-limit"), "1");
  assertEquals(limited.headers?.get("anthropic-ratelimit-requests-remaining"), "0");
  assert(
    !Number.isNaN(Date.parse(limited.headers?.get("anthropic-ratelimit-requests-reset") ?? "")),
  );
  await admin(gateway, "PATCH", `/keys/${keyId}`, { rpm_limit: null });

  const failed = await refusal(sdk(key).messages.create({ ...ask, model: "flaky" }));
  assert(failed instanceof Anthropic.InternalServerError);
  assertEquals([failed.status, errorType(failed)], [502, "api_error"]);
  await refusal(sdk(key).messages.create({ ...ask, model: "flaky" }));
  const open = await refusal(sdk(key).messages.create({ ...ask, model: "flaky" }));
  assert(open instanceof Anthropic.InternalServerError);
  assertEquals([open.status, errorType(open)], [503, "overloaded_error"]);

  const wrongMethod = await fetch(`${gateway.url}/v1/messages`, { headers: { "x-api-key": key } });
  assertEquals(wrongMethod.status, 405);
  assertEquals((await wrongMethod.json()).error.type, "invalid_request_error");
});

Deno.test("prompt cache reads and writes land in the ledger at their prices and show in the usage totals", async () => {
  await using anthropic = startFakeAnthropic();
  const prices = {
    "claude-sonnet": {
      input_per_1m_tokens: 3,
      output_per_1m_tokens: 15,
      cache_read_per_1m_tokens: 0.3,
      cache_write_per_1m_tokens: 3.75,
    },
  };
  await using gateway = await anthropicGateway(anthropic.url, {
    MODEL_PRICES: JSON.stringify(prices),
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 10 });
  const client = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 });
  const ask = {
    model: "claude-sonnet",
    max_tokens: 100,
    messages: [{ role: "user" as const, content: "Hello" }],
  };
  await client.messages.create(ask);
  await client.messages.stream(ask).finalMessage();

  const usage = await waitFor(async () => {
    const totals = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })).json();
    return totals.requests === 2 ? totals : undefined;
  }, { what: "both requests billed" });
  const { input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens } =
    ANTHROPIC_USAGE;
  const prompt = input_tokens + cache_creation_input_tokens + cache_read_input_tokens;
  assertEquals(usage.input_tokens, 2 * prompt);
  assertEquals(usage.cache_read_tokens, 2 * cache_read_input_tokens);
  assertEquals(usage.cache_write_tokens, 2 * cache_creation_input_tokens);
  assertEquals(usage.output_tokens, 2 * output_tokens);
  // Per request: 12 input at $3/M, 2000 read at $0.30/M, 300 written at $3.75/M, 9 out at $15/M.
  const micros = 12 * 3 + 2000 * 0.3 + 300 * 3.75 + 9 * 15;
  assertEquals(usage.cost_usd, (2 * micros) / 1_000_000);
});

Deno.test("a translated stream the client abandons is billed for what it produced", async () => {
  await using upstream = startFakeUpstream({ chunks: 50, chunkDelayMs: 20 });
  await using gateway = await startGateway({
    env: { ADMIN_TOKEN, OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: UPSTREAM_KEY },
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 10 });
  const client = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 });
  const stream = client.messages.stream({
    model: "gpt-4o-mini",
    max_tokens: 1000,
    messages: [{ role: "user", content: "A long story, please" }],
  });
  let deltas = 0;
  for await (const event of stream) {
    if (event.type === "content_block_delta" && ++deltas === 3) break;
  }
  const usage = await waitFor(async () => {
    const totals = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })).json();
    return totals.requests === 1 ? totals : undefined;
  }, { what: "the abandoned stream billed" });
  assert(usage.output_tokens > 0 && usage.output_tokens < 50, String(usage.output_tokens));
  assert(usage.cost_usd > 0);
  await waitFor(() => upstream.canceledStreams === 1 ? true : undefined, {
    what: "the upstream call canceled",
  });
});

Deno.test("a retried Messages call with the same Idempotency-Key gets the first answer again, billed once; a stream broken mid-way ends with Anthropic's error event", async () => {
  await using upstream = startFakeUpstream();
  await using gateway = await startGateway({
    env: { ADMIN_TOKEN, OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: UPSTREAM_KEY },
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 10 });
  const client = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 });
  const ask = {
    model: "gpt-4o-mini",
    max_tokens: 100,
    messages: [{ role: "user" as const, content: "Once" }],
  };
  const options = { headers: { "idempotency-key": "messages-order-1" } };
  const first = await client.messages.create(ask, options);
  const again = await client.messages.create(ask, options);
  assertEquals(again, first);
  assertEquals(upstream.received.length, 1, "one upstream call");

  upstream.behaviour = { breakAfterEvents: 3 };
  const broken = await refusal(client.messages.stream(ask).finalMessage());
  assertEquals(errorType(broken), "api_error");

  const usage = await waitFor(async () => {
    const totals = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })).json();
    return totals.requests === 2 ? totals : undefined;
  }, { what: "the answer and the broken stream billed" });
  assertEquals(usage.requests, 2, "the replay is not billed again");
});
