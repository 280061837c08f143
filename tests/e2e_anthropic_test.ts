/**
 * @module
 * End-to-end: the real gateway routing a public model to an `anthropic` deployment (the fake
 * Anthropic Messages API of `fake_anthropic.ts`, answering the recorded fixtures), used through the
 * official OpenAI SDK, which sees OpenAI's format only; the answers are billed from Anthropic's usage.
 */
import OpenAI from "openai";
import { assert, assertEquals } from "./assert.ts";
import { startFakeAnthropic } from "./fake_anthropic.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-anthropic-tests";
Deno.test("an anthropic deployment answers OpenAI SDK calls, JSON and streamed, billed from its usage", async () => {
  await using anthropic = await startFakeAnthropic();
  const routes = {
    "claude-sonnet": [{ provider: "anthropic", model: "claude-sonnet-4-5-20250929" }],
  };
  await using gateway = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify(routes),
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_API_KEY: "sk-ant-test-key-never-logged",
    },
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  const models = await client.models.list();
  assertEquals(models.data.map((model) => model.id), ["claude-sonnet"]);

  const completion = await client.chat.completions.create({
    model: "claude-sonnet",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Who are you?" },
    ],
    max_tokens: 600,
    temperature: 0.5,
  });
  assertEquals(completion.choices[0].message.content, "Hi! My name is Claude. How can I help?");
  assertEquals(completion.choices[0].finish_reason, "stop");
  assertEquals(completion.model, "claude-sonnet");
  const sent = anthropic.received[0];
  assertEquals(sent.headers["x-api-key"], "sk-ant-test-key-never-logged");
  assertEquals(sent.headers["anthropic-version"], "2023-06-01");
  assertEquals(sent.headers["authorization"], undefined, "the client's key never goes upstream");
  assertEquals(sent.body.model, "claude-sonnet-4-5-20250929");
  assertEquals(sent.body.system, "Be brief.");
  assertEquals(sent.body.max_tokens, 600);

  const stream = await client.chat.completions.create({
    model: "claude-sonnet",
    messages: [{ role: "user", content: "Hello" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    assertEquals(chunk.object, "chat.completion.chunk");
    text += chunk.choices[0]?.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
  assert(text.length > 0, "the streamed text arrived");
  assertEquals(usage?.prompt_tokens, 35);
  assertEquals(usage?.completion_tokens, 15);

  const refused = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "claude-sonnet",
      n: 2,
      messages: [{ role: "user", content: "Hi" }],
    }),
  });
  assertEquals(refused.status, 400, "what Anthropic cannot honour is the client's error");
  assertEquals((await refused.json()).error.type, "invalid_request_error");
  assertEquals(anthropic.received.length, 2, "nothing was sent upstream for it");
  const embeddings = await fetch(`${gateway.url}/v1/embeddings`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-sonnet", input: "Hi" }),
  });
  assertEquals(embeddings.status, 400, "no deployment of the model can embed");
  assertEquals((await embeddings.json()).error.code, "unsupported_operation");
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert(
    !metrics.includes('gateway_upstream_failures_total{provider="anthropic"'),
    "a refusal is no upstream failure",
  );

  const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const totals = await waitFor(async () => {
    const usageTotals = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers,
    })).json();
    return usageTotals.requests >= 2 ? usageTotals : undefined;
  }, { what: "both answers billed", timeoutMs: 15_000 });
  assertEquals(totals.input_tokens, 2095 + 35);
  assertEquals(totals.output_tokens, 503 + 15);
  const lines = gateway.records().map((record) => JSON.stringify(record)).join("\n");
  assert(!lines.includes("sk-ant-test-key-never-logged"), "the upstream key is never logged");
});
