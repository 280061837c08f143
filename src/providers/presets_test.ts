import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { HttpError } from "../core/mod.ts";
import { createPresetProvider, OPENAI_PRESETS } from "./presets.ts";
import { PRESET_KEY_VARIABLES, PROVIDERS } from "./registry.ts";

/** A preset's provider whose upstream answers every call, recording what it was sent. */
function presetAnswering(name: string, answer: () => Response, apiKey: string | undefined = "k") {
  const sent: Array<{ url: string; headers: Headers; body: Record<string, unknown> }> = [];
  const provider = createPresetProvider(name, {
    apiKey,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      sent.push({ url: request.url, headers: request.headers, body: await request.json() });
      return answer();
    },
  });
  return { provider, sent };
}

const call = { signal: new AbortController().signal, traceId: "t", upstreamModel: "llama-3.3-70b" };
const chat = () => Response.json({ object: "chat.completion", choices: [] });

Deno.test("every preset is a provider of its own name, with its key variable", () => {
  for (
    const name of [
      "groq",
      "mistral",
      "deepseek",
      "openrouter",
      "together",
      "fireworks",
      "vllm",
      "ollama",
    ]
  ) {
    assert(name in PROVIDERS, name);
    assertEquals(PRESET_KEY_VARIABLES[name], OPENAI_PRESETS[name].keyVariable);
    const provider = PROVIDERS[name]({
      baseUrl: undefined,
      apiKey: "key",
      fetch,
      defaultMaxTokens: 1,
      mockModels: [],
    });
    assertEquals(provider.name, name, "the provider label is the preset's name");
  }
});

Deno.test("a preset calls its default base URL with its key as a bearer token", async () => {
  const { provider, sent } = presetAnswering("groq", chat, "gsk-secret");
  await provider.chatCompletion(
    { model: "fast", messages: [{ role: "user", content: "Hi" }] },
    call,
  );
  assertEquals(sent[0].url, "https://api.groq.com/openai/v1/chat/completions");
  assertEquals(sent[0].headers.get("authorization"), "Bearer gsk-secret");
});

Deno.test("groq gets no logprobs, logit_bias, top_logprobs or message names", async () => {
  const { provider, sent } = presetAnswering("groq", chat);
  await provider.chatCompletion({
    model: "fast",
    messages: [{ role: "user", content: "Hi", name: "ada" }],
    logprobs: true,
    top_logprobs: 2,
    logit_bias: { "50256": -100 },
    n: 1,
    temperature: 0.5,
  }, call);
  assertEquals(sent[0].body, {
    model: "llama-3.3-70b",
    messages: [{ role: "user", content: "Hi" }],
    n: 1,
    temperature: 0.5,
  });
});

Deno.test("asking groq for several choices is the client's 400, before any call", async () => {
  const { provider, sent } = presetAnswering("groq", chat);
  const error = await assertRejects(() =>
    provider.chatCompletion({ model: "fast", messages: [], n: 3 }, call)
  );
  assert(error instanceof HttpError);
  assertEquals(error.status, 400);
  assertEquals(error.param, "n");
  assertEquals(sent.length, 0);
});

Deno.test("mistral gets random_seed and max_tokens, and no stream_options", async () => {
  const { provider, sent } = presetAnswering(
    "mistral",
    () => new Response("data: [DONE]\n\n", { headers: { "content-type": "text/event-stream" } }),
  );
  const result = await provider.chatCompletion({
    model: "large",
    messages: [],
    seed: 7,
    max_completion_tokens: 100,
    stream: true,
    stream_options: { include_usage: true },
    store: true,
  }, call);
  assert(result.kind === "stream");
  await result.body.cancel();
  assertEquals(sent[0].url, "https://api.mistral.ai/v1/chat/completions");
  assertEquals(sent[0].body, {
    model: "llama-3.3-70b",
    messages: [],
    random_seed: 7,
    max_tokens: 100,
    stream: true,
  });
});

Deno.test("a preset serves only the endpoints its service has", () => {
  const groq = createPresetProvider("groq", { apiKey: "k" });
  assertEquals([groq.completions, groq.embeddings], [undefined, undefined]);
  const mistral = createPresetProvider("mistral", { apiKey: "k" });
  assertEquals([mistral.completions === undefined, mistral.embeddings === undefined], [
    true,
    false,
  ]);
  const vllm = createPresetProvider("vllm", {});
  assert(vllm.completions && vllm.embeddings);
});

Deno.test("local presets need no key; hosted ones name the variable they miss", () => {
  createPresetProvider("ollama", {});
  const error = assertThrows(() => createPresetProvider("together", {}));
  assertEquals(error.message, "needs an api_key_env (or TOGETHER_API_KEY)");
});

Deno.test("a base_url overrides the preset's, and vllm sends no key it was not given", async () => {
  const sent: Request[] = [];
  const provider = createPresetProvider("vllm", {
    baseUrl: "http://gpu-box:8000/v1/",
    fetch: (input, init) => {
      sent.push(new Request(input, init));
      return Promise.resolve(chat());
    },
  });
  await provider.chatCompletion({ model: "m", messages: [] }, call);
  assertEquals(sent[0].url, "http://gpu-box:8000/v1/chat/completions");
  assertEquals(sent[0].headers.get("authorization"), null);
});
