/**
 * @module
 * End-to-end: the real gateway routing public models to an `azure` deployment (a fake Azure
 * OpenAI started here, which checks the deployment paths, the `api-version` query and the
 * `api-key` header and answers the fixtures written from Azure's reference) and to a `groq`
 * preset (the fake OpenAI-compatible upstream under an overridden base URL), used through the
 * official OpenAI SDK.
 */
import OpenAI from "openai";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-azure-tests";
const AZURE_KEY = "azure-test-key-never-logged";
const ENTRA_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-test-token";
const GROQ_KEY = "gsk-groq-test-key-never-logged";
const API_VERSION = "2024-10-21";
const FIXTURES = new URL("../src/providers/testdata/azure/", import.meta.url);

/** Fixture JSON, as parsed. */
type Json = ReturnType<typeof JSON.parse>;

async function fixture(name: string): Promise<Json> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, FIXTURES)));
}

/** A fake Azure OpenAI resource serving two deployments, refusing what Azure would refuse. */
async function startFakeAzure() {
  const chat = await fixture("chat_completion");
  const stream = await fixture("stream_filtered");
  const embeddings = await fixture("embeddings");
  const filtered = await fixture("error_content_filter");
  const received: Array<{ path: string; headers: Record<string, string>; body: Json }> = [];
  const azureError = (status: number, code: string, message: string) =>
    Response.json({ error: { code, message } }, { status });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const credentials = [request.headers.get("api-key"), request.headers.get("authorization")];
    if (credentials[0] !== AZURE_KEY && credentials[1] !== `Bearer ${ENTRA_TOKEN}`) {
      return azureError(401, "401", "Access denied due to invalid subscription key.");
    }
    if (url.searchParams.get("api-version") !== API_VERSION) {
      return azureError(404, "404", "Resource not found");
    }
    const body = await request.json();
    received.push({ path: url.pathname, headers: Object.fromEntries(request.headers), body });
    if (url.pathname === "/openai/deployments/chat-prod/chat/completions") {
      const last = JSON.stringify(body.messages.at(-1));
      if (last.includes("forbidden")) return Response.json(filtered.body, { status: 400 });
      if (!body.stream) return Response.json(chat.response);
      return new Response(stream.events.map((event: string) => `${event}\n\n`).join(""), {
        headers: { "content-type": "text/event-stream" },
      });
    }
    if (url.pathname === "/openai/deployments/embed-prod/embeddings") {
      return Response.json(embeddings.response);
    }
    return azureError(
      404,
      "DeploymentNotFound",
      "The API deployment for this resource does not exist.",
    );
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    chat,
    stream,
    embeddings,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

Deno.test("azure and groq deployments answer OpenAI SDK calls: chat, streams, embeddings, the content filter", async () => {
  await using azure = await startFakeAzure();
  await using groq = startFakeUpstream();
  const tokenFile = await Deno.makeTempFile();
  await Deno.writeTextFile(tokenFile, `${ENTRA_TOKEN}\n`);
  const routes = {
    "gpt-4o": [{ provider: "azure", model: "gpt-4o", azure_deployment: "chat-prod" }],
    "gpt-4o-entra": [{
      provider: "azure",
      model: "gpt-4o",
      azure_deployment: "chat-prod",
      azure_ad_token_file: tokenFile,
    }],
    "text-embedding": [{ provider: "azure", model: "embed-prod", api_version: API_VERSION }],
    "llama": [{ provider: "groq", model: "llama-3.3-70b-versatile", base_url: groq.url }],
  };
  await using gateway = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify(routes),
      AZURE_OPENAI_ENDPOINT: azure.url,
      AZURE_OPENAI_API_KEY: AZURE_KEY,
      GROQ_API_KEY: GROQ_KEY,
    },
  });
  const { key, tenantId } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 100 });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  const models = await client.models.list();
  assertEquals(models.data.map((model) => model.id).sort(), [
    "gpt-4o",
    "gpt-4o-entra",
    "llama",
    "text-embedding",
  ]);

  const completion = await client.chat.completions.create({
    model: "gpt-4o",
    messages: azure.chat.request.messages,
  });
  assertEquals(
    completion.choices[0].message.content,
    azure.chat.response.choices[0].message.content,
  );
  assertEquals(completion.usage?.prompt_tokens, 33);
  const sent = azure.received[0];
  assertEquals(sent.path, "/openai/deployments/chat-prod/chat/completions");
  assertEquals(sent.headers["authorization"], undefined, "the client's key never goes upstream");
  assertEquals(sent.body.messages, azure.chat.request.messages);

  const stream = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: 'Tell me the lyrics to "Hey Jude".' }],
    stream: true,
  });
  let text = "";
  const finishes: string[] = [];
  for await (const chunk of stream) {
    assertEquals(
      chunk.object,
      "chat.completion.chunk",
      "Azure's annotation events are not passed on",
    );
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    assertEquals(chunk.usage ?? undefined, undefined, "no usage chunk the client did not ask for");
  }
  assertEquals(text, "Hey Jude,");
  assertEquals(finishes, ["content_filter"]);
  assertEquals(azure.received[1].body.stream_options, { include_usage: true });

  const vectors = await client.embeddings.create({
    model: "text-embedding",
    input: azure.embeddings.request.input,
    encoding_format: "float",
  });
  assertEquals(vectors.data[0].embedding, azure.embeddings.response.data[0].embedding);
  assertEquals(azure.received[2].path, "/openai/deployments/embed-prod/embeddings");

  const refused = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "forbidden" }] }),
  });
  assertEquals(refused.status, 400);
  const refusal = await refused.json();
  assertEquals(refusal.error.code, "content_filter");
  assertEquals(refusal.error.type, "invalid_request_error");
  assertStringIncludes(refusal.error.message, "content filter blocked the prompt (hate: high");
  assertEquals(azure.received.length, 4, "a content filter refusal is not retried");

  const entra = await client.chat.completions.create({
    model: "gpt-4o-entra",
    messages: [{ role: "user", content: "Hi" }],
  });
  assertEquals(entra.choices[0].finish_reason, "stop");
  const withToken = azure.received[4];
  assertEquals(
    withToken.headers["authorization"],
    `Bearer ${ENTRA_TOKEN}`,
    "the token file's token",
  );
  assertEquals(
    withToken.headers["api-key"],
    undefined,
    "a token instead of the key, not beside it",
  );

  const fast = await client.chat.completions.create({
    model: "llama",
    messages: [{ role: "user", content: "Hi", name: "ada" }],
    logprobs: true,
    top_logprobs: 2,
  });
  assertEquals(fast.choices[0].message.content, "fake answer");
  const toGroq = groq.received.at(-1)!;
  assertEquals(toGroq.path, "/v1/chat/completions");
  assertEquals(toGroq.headers["authorization"], `Bearer ${GROQ_KEY}`);
  assertEquals(toGroq.body, {
    model: "llama-3.3-70b-versatile",
    messages: [{ role: "user", content: "Hi" }],
  }, "what Groq rejects is left out");

  // An upstream call is measured at its last byte, which may be just after the client got it.
  await waitFor(async () => {
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    return ["azure", "groq"].every((provider) =>
        metrics.includes(`gateway_upstream_latency_seconds_count{provider="${provider}"`)
      )
      ? true
      : undefined;
  }, { what: "the provider label is azure's and the preset's name", timeoutMs: 10_000 });

  const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const totals = await waitFor(async () => {
    const usage = await (await fetch(`${gateway.url}/internal/tenants/${tenantId}/usage`, {
      headers,
    })).json();
    return usage.requests >= 5 ? usage : undefined;
  }, { what: "the answers billed", timeoutMs: 15_000 });
  assertEquals(
    totals.input_tokens,
    33 + 16 + 4 + 33 + 11,
    "billed from Azure's and Groq's own usage",
  );
  const lines = gateway.records().map((record) => JSON.stringify(record)).join("\n");
  assert(!lines.includes(AZURE_KEY) && !lines.includes(GROQ_KEY), "upstream keys are never logged");
  await Deno.remove(tokenFile);
});
