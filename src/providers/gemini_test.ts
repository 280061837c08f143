import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/assert.ts";
import { HttpError } from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import { GeminiProvider, type GeminiProviderOptions } from "./gemini.ts";
import { PROVIDERS } from "./registry.ts";

const KEY = "AIzaSy-unit-test-key";
const TOKEN = "ya29.unit-test-token";
const ANSWER = {
  candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
  usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
};

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
}

/** A provider whose upstream answers each call with the next of `answers` (the last repeats). */
function provider(answers: Array<() => Response>, options: Partial<GeminiProviderOptions> = {}) {
  const sent: Sent[] = [];
  const gemini = new GeminiProvider({
    ...(options.vertex ? {} : { apiKey: KEY }),
    ...options,
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const text = await request.text();
      sent.push({
        url: request.url,
        method: request.method,
        headers: request.headers,
        body: text ? JSON.parse(text) : undefined,
      });
      return answers[Math.min(sent.length - 1, answers.length - 1)]();
    },
  });
  return { gemini, sent };
}

function call(upstreamModel = "gemini-2.5-flash") {
  return { signal: new AbortController().signal, traceId: "trace-unit", upstreamModel };
}

const hello = { model: "gemini", messages: [{ role: "user" as const, content: "Hello" }] };

const vertex = {
  project: "my-project",
  location: "europe-west4",
  token: { token: () => Promise.resolve(TOKEN) },
};

Deno.test("Vertex AI is called on its regional host and project path with the bearer token", async () => {
  const { gemini, sent } = provider([() => Response.json(ANSWER)], { vertex });
  const result = await gemini.chatCompletion(hello, call());
  assert(result.kind === "json");
  assertEquals(result.body.choices[0].message.content, "ok");
  assertEquals(
    sent[0].url,
    "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
  );
  assertEquals(sent[0].headers.get("authorization"), `Bearer ${TOKEN}`);
  assertEquals(sent[0].headers.get("x-goog-api-key"), null, "a token instead of a key");
});

Deno.test("Vertex AI's global location has no regional host; a base_url replaces the host", async () => {
  const global = provider([() => Response.json(ANSWER)], {
    vertex: { ...vertex, location: "global" },
  });
  await global.gemini.chatCompletion(hello, call());
  assertEquals(
    global.sent[0].url,
    "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/publishers/google/models/gemini-2.5-flash:generateContent",
  );
  const proxied = provider([() => Response.json(ANSWER)], {
    baseUrl: "http://127.0.0.1:9/",
  });
  await proxied.gemini.chatCompletion(hello, call());
  assertEquals(
    proxied.sent[0].url,
    "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent",
  );
});

Deno.test("the model list follows Google's pages and gives the bare model names", async () => {
  const { gemini, sent } = provider([
    () => Response.json({ models: [{ name: "models/gemini-2.5-flash" }], nextPageToken: "p2" }),
    () => Response.json({ models: [{ name: "models/gemini-2.5-pro" }] }),
  ]);
  const models = await gemini.listModels(new AbortController().signal);
  assertEquals(models.map((model) => [model.id, model.owned_by]), [
    ["gemini-2.5-flash", "google"],
    ["gemini-2.5-pro", "google"],
  ]);
  assertEquals(sent.map((one) => new URL(one.url).search), [
    "?pageSize=1000",
    "?pageSize=1000&pageToken=p2",
  ]);
  const onVertex = provider([
    () => Response.json({ publisherModels: [{ name: "publishers/google/models/gemini-2.0" }] }),
  ], { vertex });
  const listed = await onVertex.gemini.listModels(new AbortController().signal);
  assertEquals(listed.map((model) => model.id), ["gemini-2.0"]);
  assertEquals(
    new URL(onVertex.sent[0].url).pathname,
    "/v1beta1/publishers/google/models",
  );
});

Deno.test("Google's errors are classified: a refused key is the gateway's, a bad request the client's", async () => {
  const error = (status: number, body: unknown) => () => Response.json(body, { status });
  const keyRefused = provider([error(400, {
    error: {
      code: 400,
      message: `API key not valid: ${KEY}`,
      status: "INVALID_ARGUMENT",
      details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }],
    },
  })]);
  const refused = await assertRejects(() => keyRefused.gemini.chatCompletion(hello, call()));
  assert(refused instanceof UpstreamError);
  assertEquals(refused.errorClass, "auth");
  assert(!refused.message.includes(KEY), "the key never reaches a message");

  const invalid = provider([error(400, {
    error: { code: 400, message: `Bad value near ${KEY}`, status: "INVALID_ARGUMENT" },
  })]);
  const rejected = await assertRejects(() => invalid.gemini.chatCompletion(hello, call()));
  assert(rejected instanceof UpstreamError);
  assertEquals([rejected.errorClass, rejected.status], ["client_error", 400]);
  assertEquals(rejected.message, "Bad value near [REDACTED] (INVALID_ARGUMENT)");

  const limited = provider([
    () =>
      Response.json({ error: { code: 429, message: "Quota", status: "RESOURCE_EXHAUSTED" } }, {
        status: 429,
        headers: { "retry-after": "7" },
      }),
  ]);
  const throttled = await assertRejects(() => limited.gemini.chatCompletion(hello, call()));
  assert(throttled instanceof UpstreamError);
  assertEquals([throttled.errorClass, throttled.retryAfterSeconds], ["rate_limited", 7]);
});

Deno.test("a stream whose first event is an error fails the call before any byte, so it can be retried", async () => {
  const failing =
    'data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}\r\n\r\n';
  const { gemini } = provider([
    () => new Response(failing, { headers: { "content-type": "text/event-stream" } }),
  ]);
  const error = await assertRejects(() =>
    gemini.chatCompletion({ ...hello, stream: true }, call())
  );
  assert(error instanceof UpstreamError);
  assertEquals([error.errorClass, error.status], ["server_error", 503]);
});

Deno.test("a stream with no event, or a first event that is not JSON, fails the call before any byte", async () => {
  for (const text of ["", ": keep-alive\r\n\r\n", "data: {not json\r\n\r\n"]) {
    const { gemini } = provider([
      () => new Response(text, { headers: { "content-type": "text/event-stream" } }),
    ]);
    const error = await assertRejects(() =>
      gemini.chatCompletion({ ...hello, stream: true }, call())
    );
    assert(error instanceof UpstreamError, text);
    assertEquals(error.errorClass, "invalid_response", text);
  }
});

Deno.test("a stream answered without an event stream is an invalid response", async () => {
  const { gemini } = provider([() => Response.json(ANSWER)]);
  const error = await assertRejects(() =>
    gemini.chatCompletion({ ...hello, stream: true }, call())
  );
  assert(error instanceof UpstreamError);
  assertEquals(error.errorClass, "invalid_response");
});

Deno.test("an answer with no candidates and no block reason is an invalid response", async () => {
  const { gemini } = provider([() => Response.json({ usageMetadata: {} })]);
  const error = await assertRejects(() => gemini.chatCompletion(hello, call()));
  assert(error instanceof UpstreamError);
  assertEquals(error.errorClass, "invalid_response");
});

Deno.test("embeddings of token arrays are the client's 400, before any call", async () => {
  const { gemini, sent } = provider([() => Response.json({})]);
  const error = await assertRejects(() =>
    gemini.embeddings({ model: "embed", input: [1, 2, 3] }, call("gemini-embedding-001"))
  );
  assert(error instanceof HttpError);
  assertEquals([error.status, error.param], [400, "input"]);
  assertEquals(sent, []);
});

Deno.test("Vertex AI embeds with predict and bills the token counts it gives", async () => {
  const { gemini, sent } = provider([() =>
    Response.json({
      predictions: [
        { embeddings: { values: [0.1, 0.2], statistics: { token_count: 6, truncated: false } } },
        { embeddings: { values: [0.3, 0.4], statistics: { token_count: 4, truncated: false } } },
      ],
    })], { vertex });
  const result = await gemini.embeddings(
    { model: "embed", input: ["one", "two"], dimensions: 2 },
    call("text-embedding-005"),
  );
  assertEquals(
    new URL(sent[0].url).pathname,
    "/v1/projects/my-project/locations/europe-west4/publishers/google/models/text-embedding-005:predict",
  );
  assertEquals(sent[0].body, {
    instances: [{ content: "one" }, { content: "two" }],
    parameters: { outputDimensionality: 2 },
  });
  assertEquals(result.body.data.map((item) => item.embedding), [[0.1, 0.2], [0.3, 0.4]]);
  assertEquals(result.body.usage, { prompt_tokens: 10, total_tokens: 10 });
});

Deno.test("embeddings that do not match the input are an invalid response", async () => {
  const { gemini } = provider([() => Response.json({ embeddings: [{ values: [1] }] })]);
  const error = await assertRejects(() =>
    gemini.embeddings({ model: "embed", input: ["a", "b"] }, call("text-embedding-004"))
  );
  assert(error instanceof UpstreamError);
  assertEquals(error.errorClass, "invalid_response");
});

Deno.test("the registry's gemini needs a key, or Vertex AI's location and a readable token file", async () => {
  const settings = {
    baseUrl: undefined,
    apiKey: undefined as string | undefined,
    fetch,
    defaultMaxTokens: 1,
    mockModels: [],
  };
  const thrown = (make: () => unknown) => assertThrows(make).message;
  assertStringIncludes(thrown(() => PROVIDERS.gemini(settings)), "needs an api_key_env");
  assertEquals(PROVIDERS.gemini({ ...settings, apiKey: KEY }).name, "gemini");
  const onVertex = { ...settings, vertexProject: "my-project", vertexLocation: "us-central1" };
  assertEquals(
    thrown(() => PROVIDERS.gemini(onVertex)),
    "needs a vertex_token_file or a vertex_credentials_file",
  );
  assertEquals(
    thrown(() => PROVIDERS.gemini({ ...onVertex, vertexCredentialsFile: "/no/such/key.json" })),
    "names the key file /no/such/key.json, which cannot be read",
  );
  assertEquals(
    thrown(() => PROVIDERS.gemini({ ...onVertex, tokenFile: "/no/such/token" })),
    "names the token file /no/such/token, which cannot be read",
  );
  const tokenFile = await Deno.makeTempFile();
  try {
    assertEquals(PROVIDERS.gemini({ ...onVertex, tokenFile }).name, "gemini");
    assertEquals(
      PROVIDERS.gemini({ ...onVertex, vertexCredentialsFile: tokenFile }).name,
      "gemini",
    );
  } finally {
    await Deno.remove(tokenFile);
  }
});

Deno.test("a Gemini provider takes an AI Studio key or Vertex AI, exactly one", () => {
  for (const options of [{}, { apiKey: KEY, vertex }]) {
    assert(assertThrows(() => new GeminiProvider(options)) instanceof TypeError);
  }
});

Deno.test("a stream the client leaves cancels the upstream, its outcome canceled with what was produced", async () => {
  let canceled = false;
  const first = 'data: {"candidates":[{"content":{"parts":[{"text":"Hello"}]}}]}\r\n\r\n';
  const { gemini } = provider([() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(first));
        },
        cancel() {
          canceled = true;
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )]);
  const result = await gemini.chatCompletion({ ...hello, stream: true }, call());
  assert(result.kind === "stream");
  const reader = result.body.getReader();
  const { value } = await reader.read();
  assertStringIncludes(new TextDecoder().decode(value), '"content":"Hello"');
  await reader.cancel();
  assertEquals(await result.outcome, { producedChars: 5, error: "canceled" });
  assert(canceled, "the upstream read is canceled");
});

Deno.test("a mid-stream error that echoes the key or the Vertex AI token is told without it", async () => {
  const stream = (secret: string) =>
    'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}\r\n\r\n' +
    `data: {"error":{"code":500,"message":"internal error for ${secret}","status":"INTERNAL"}}\r\n\r\n`;
  for (const [secret, options] of [[KEY, {}], [TOKEN, { vertex }]] as const) {
    const { gemini } = provider([
      () => new Response(stream(secret), { headers: { "content-type": "text/event-stream" } }),
    ], options);
    const result = await gemini.chatCompletion({ ...hello, stream: true }, call());
    assert(result.kind === "stream");
    const told = await new Response(result.body).text();
    const { error } = await result.outcome;
    assertStringIncludes(told, "internal error for");
    assert(!told.includes(secret), `the client's stream holds no secret: ${told}`);
    assert(error !== undefined && !error.includes(secret), `the outcome holds no secret: ${error}`);
  }
});
