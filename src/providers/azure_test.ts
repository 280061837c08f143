/**
 * Azure OpenAI against fixtures written from Azure's published reference (`testdata/azure/`):
 * paths, the api-version query, credentials, answers passed on as sent, stream annotations and
 * the content filter.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { toHttpError } from "../pipeline/model_pipeline.ts";
import {
  AZURE_DEFAULT_API_VERSION,
  type AzureProviderOptions,
  createAzureProvider,
} from "./azure.ts";
import { UpstreamError } from "./errors.ts";
import { FileTokenSource } from "./_token_file.ts";
import { PROVIDERS } from "./registry.ts";

const FIXTURES = new URL("./testdata/azure/", import.meta.url);
const ENDPOINT = "https://my-resource.openai.azure.com";
const KEY = "azure-key-0123456789abcdef";

/** Fixture JSON, as parsed. */
type Json = ReturnType<typeof JSON.parse>;

async function fixture(name: string): Promise<Json> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, FIXTURES)));
}

interface Sent {
  url: URL;
  headers: Headers;
  body: Json;
}

/** An Azure provider whose upstream answers every call with `answer`, recording what it sent. */
function azureAnswering(answer: () => Response, options: Partial<AzureProviderOptions> = {}) {
  const sent: Sent[] = [];
  const provider = createAzureProvider({
    endpoint: `${ENDPOINT}/`,
    ...(options.token ? {} : { apiKey: KEY }),
    ...options,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const text = await request.text();
      sent.push({
        url: new URL(request.url),
        headers: request.headers,
        body: text && JSON.parse(text),
      });
      return answer();
    },
  });
  return { provider, sent };
}

function call(upstreamModel: string) {
  return { signal: new AbortController().signal, traceId: "trace-1", upstreamModel };
}

const sse = (events: string[]) =>
  new Response(events.map((event) => `${event}\n\n`).join(""), {
    headers: { "content-type": "text/event-stream" },
  });

Deno.test("azure chat goes to the deployment's path with the api-version and the api-key header", async () => {
  const recorded = await fixture("chat_completion");
  const { provider, sent } = azureAnswering(() => Response.json(recorded.response), {
    deployment: recorded.deployment,
    apiVersion: recorded.api_version,
  });
  const result = await provider.chatCompletion(
    { model: "pirate", ...recorded.request },
    call("gpt-4o"),
  );
  assertEquals(
    sent[0].url.href,
    `${ENDPOINT}/openai/deployments/gpt-4o-pirate/chat/completions?api-version=2024-10-21`,
  );
  assertEquals(sent[0].headers.get("api-key"), KEY);
  assertEquals(sent[0].headers.get("authorization"), null, "no bearer token beside the key");
  assertEquals(sent[0].body, { ...recorded.request, model: "gpt-4o-pirate" });
  assert(result.kind === "json");
  assertEquals(
    result.body,
    recorded.response,
    "the answer and its annotations pass as Azure sent them",
  );
  assertEquals(provider.name, "azure");
});

Deno.test("azure without a deployment name uses the route's model and the default api-version", async () => {
  const { provider, sent } = azureAnswering(() => Response.json({ choices: [] }));
  await provider.chatCompletion({ model: "m", messages: [] }, call("my-gpt-4o"));
  assertEquals(
    sent[0].url.pathname + sent[0].url.search,
    `/openai/deployments/my-gpt-4o/chat/completions?api-version=${AZURE_DEFAULT_API_VERSION}`,
  );
});

Deno.test("azure v1 puts the deployment in the body of /openai/v1 calls, with no api-version", async () => {
  const { provider, sent } = azureAnswering(() => Response.json({ choices: [] }), {
    apiVersion: "v1",
    deployment: "prod-gpt-4o",
  });
  await provider.chatCompletion({ model: "m", messages: [] }, call("gpt-4o"));
  assertEquals(sent[0].url.href, `${ENDPOINT}/openai/v1/chat/completions`);
  assertEquals(sent[0].body.model, "prod-gpt-4o");
});

Deno.test("azure embeddings and legacy completions use their deployment paths and pass answers on", async () => {
  const embeddings = await fixture("embeddings");
  const completions = await fixture("completions");
  const answers = [embeddings.response, completions.response];
  const { provider, sent } = azureAnswering(() => Response.json(answers.shift()));
  const vectors = await provider.embeddings(
    { model: "embed", ...embeddings.request },
    call(embeddings.deployment),
  );
  assertEquals(
    sent[0].url.pathname,
    `/openai/deployments/${embeddings.deployment}/embeddings`,
  );
  assertEquals(sent[0].url.searchParams.get("api-version"), AZURE_DEFAULT_API_VERSION);
  assertEquals(vectors.body, embeddings.response);
  const completion = await provider.completions(
    { model: "davinci-public", ...completions.request },
    call(completions.deployment),
  );
  assertEquals(sent[1].url.pathname, "/openai/deployments/davinci/completions");
  assertEquals(sent[1].body, { ...completions.request, model: "davinci" });
  assert(completion.kind === "json");
  assertEquals(completion.body, completions.response);
});

Deno.test("azure's model list is the resource's, under the api-version", async () => {
  const { provider, sent } = azureAnswering(() => Response.json({ data: [{ id: "gpt-4o" }] }));
  const models = await provider.listModels(new AbortController().signal);
  assertEquals(
    sent[0].url.href,
    `${ENDPOINT}/openai/models?api-version=${AZURE_DEFAULT_API_VERSION}`,
  );
  assertEquals(models.map((model) => model.id), ["gpt-4o"]);
});

Deno.test("a completion Azure filtered keeps its content_filter finish reason", async () => {
  const recorded = await fixture("chat_filtered");
  const { provider } = azureAnswering(() => Response.json(recorded.response));
  const result = await provider.chatCompletion({ model: "m", messages: [] }, call("d"));
  assert(result.kind === "json");
  assertEquals(result.body.choices[0].finish_reason, "content_filter");
  assertEquals(result.body.usage, recorded.response.usage);
});

Deno.test("a stream Azure filtered reaches the client as OpenAI chunks ending in content_filter", async () => {
  const recorded = await fixture("stream_filtered");
  for (const clientWantsUsage of [false, true]) {
    const { provider, sent } = azureAnswering(() => sse(recorded.events));
    const result = await provider.chatCompletion({
      model: "m",
      messages: [{ role: "user", content: 'Tell me the lyrics to "Hey Jude".' }],
      stream: true,
      ...(clientWantsUsage ? { stream_options: { include_usage: true } } : {}),
    }, call("gpt-35-turbo"));
    assert(result.kind === "stream");
    assertEquals(sent[0].body.stream_options, { include_usage: true });
    const text = await new Response(result.body).text();
    const expected = [...recorded.client_events];
    if (clientWantsUsage) expected.splice(-1, 0, recorded.events.at(-2));
    assertEquals(text.trim().split("\n\n"), expected);
    const outcome = await result.outcome;
    assertEquals(outcome.finishReason, "content_filter");
    assertEquals(outcome.usage, recorded.usage);
    assertEquals(outcome.producedChars, "Hey Jude,".length);
  }
});

Deno.test("a prompt Azure's content filter refused is the client's 400 content_filter, naming the categories", async () => {
  const recorded = await fixture("error_content_filter");
  const { provider } = azureAnswering(() =>
    Response.json(recorded.body, { status: recorded.status })
  );
  const error = await assertRejects(() =>
    provider.chatCompletion({ model: "m", messages: [{ role: "user", content: "x" }] }, call("d"))
  );
  assert(error instanceof UpstreamError);
  assertEquals(error.errorClass, "client_error");
  const answer = toHttpError(error);
  assertEquals({ status: answer.status, error: answer.toBody().error }, recorded.client);
});

Deno.test("other Azure errors keep their own message and no content_filter code", async () => {
  const { provider } = azureAnswering(() =>
    Response.json({
      error: {
        code: "DeploymentNotFound",
        message: "The API deployment for this resource does not exist.",
      },
    }, { status: 404 })
  );
  const error = await assertRejects(() =>
    provider.chatCompletion({ model: "m", messages: [] }, call("d"))
  );
  assert(error instanceof UpstreamError);
  assertEquals(error.message, "The API deployment for this resource does not exist.");
  assertEquals(error.code, undefined);
});

Deno.test("an Entra ID token from a file goes as a bearer token, read again once it is old", async () => {
  let now = 0;
  let written = "token-one\n";
  const token = new FileTokenSource({
    path: "/run/azure/token",
    refreshMs: 1_000,
    now: () => now,
    readTextFile: (path) => {
      assertEquals(path, "/run/azure/token");
      return Promise.resolve(written);
    },
  });
  const { provider, sent } = azureAnswering(() => Response.json({ choices: [] }), { token });
  await provider.chatCompletion({ model: "m", messages: [] }, call("d"));
  written = "token-two";
  now = 999;
  await provider.chatCompletion({ model: "m", messages: [] }, call("d"));
  now = 1_000;
  await provider.chatCompletion({ model: "m", messages: [] }, call("d"));
  assertEquals(sent.map((s) => s.headers.get("authorization")), [
    "Bearer token-one",
    "Bearer token-one",
    "Bearer token-two",
  ]);
  assertEquals(sent[0].headers.get("api-key"), null);
});

Deno.test("an unreadable or empty token file fails the call as auth, before anything is sent", async () => {
  for (
    const read of [
      () => Promise.reject(new Deno.errors.NotFound("gone")),
      () => Promise.resolve(" \n"),
    ]
  ) {
    const token = new FileTokenSource({ path: "/run/azure/token", readTextFile: read });
    const { provider, sent } = azureAnswering(() => Response.json({}), { token });
    const error = await assertRejects(() =>
      provider.chatCompletion({ model: "m", messages: [] }, call("d"))
    );
    assert(error instanceof UpstreamError);
    assertEquals(error.errorClass, "auth");
    assertEquals(sent.length, 0);
  }
});

Deno.test("azure needs exactly one of a key and a token", () => {
  for (const options of [{}, { apiKey: KEY, token: new FileTokenSource({ path: "/x" }) }]) {
    const thrown = assertThrows(() => createAzureProvider({ endpoint: ENDPOINT, ...options }));
    assert(thrown instanceof TypeError);
  }
});

Deno.test("the registry's azure needs an endpoint and a key or a readable token file", async () => {
  const settings = {
    baseUrl: ENDPOINT as string | undefined,
    apiKey: undefined as string | undefined,
    fetch,
    defaultMaxTokens: 1,
    mockModels: [],
  };
  const thrown = (make: () => unknown) => assertThrows(make).message;
  assertEquals(
    thrown(() => PROVIDERS.azure({ ...settings, baseUrl: undefined, apiKey: KEY })),
    "needs a base_url (or AZURE_OPENAI_ENDPOINT)",
  );
  assertEquals(
    thrown(() => PROVIDERS.azure({ ...settings, apiKey: undefined })),
    "needs an api_key_env (or AZURE_OPENAI_API_KEY) or an azure_ad_token_file",
  );
  assertEquals(
    thrown(() => PROVIDERS.azure({ ...settings, tokenFile: "/no/such/token" })),
    "names the token file /no/such/token, which cannot be read",
  );
  const tokenFile = await Deno.makeTempFile();
  try {
    assertEquals(PROVIDERS.azure({ ...settings, tokenFile }).name, "azure");
  } finally {
    await Deno.remove(tokenFile);
  }
});

Deno.test("an in-band error or a malformed chunk in an Azure stream goes on, never breaking the relay", async () => {
  const error = 'data: {"error":{"code":"server_error","message":"The server had an error."}}';
  const odd = 'data: {"id":"x","choices":[null,{"index":0,"delta":{"content":"a"}}]}';
  const { provider } = azureAnswering(() => sse([odd, error, "data: [DONE]"]));
  const result = await provider.chatCompletion(
    { model: "m", messages: [], stream: true },
    call("d"),
  );
  assert(result.kind === "stream");
  assertEquals((await new Response(result.body).text()).trim().split("\n\n"), [
    odd,
    error,
    "data: [DONE]",
  ]);
  assertEquals((await result.outcome).producedChars, 1);
});
