import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import type { ChatCompletionRequest } from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import { OpenAIProvider, scrubSecrets } from "./openai.ts";
import {
  FAKE_EMBEDDING_USAGE,
  FAKE_USAGE,
  fakeEmbedding,
  type FakeUpstream,
  startFakeUpstream,
} from "../../tests/fake_upstream.ts";

const request: ChatCompletionRequest = {
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Hi" }],
};

function call(signal = new AbortController().signal) {
  return { signal, traceId: "req-1", upstreamModel: "upstream-model" };
}

function providerAnswering(respond: (request: Request) => Response | Promise<Response>) {
  const seen: Request[] = [];
  const provider = new OpenAIProvider({
    baseUrl: "http://upstream.test/v1/",
    apiKey: "sk-upstream-secret",
    fetch: (input, init) => {
      const upstreamRequest = new Request(input, init);
      seen.push(upstreamRequest);
      return Promise.resolve(respond(upstreamRequest));
    },
  });
  return { provider, seen };
}

Deno.test("the upstream gets its own key, the trace id and the upstream model name", async () => {
  const { provider, seen } = providerAnswering(() =>
    Response.json({ id: "x", object: "chat.completion", choices: [], created: 1, model: "m" })
  );
  await provider.chatCompletion(request, call());
  assertEquals(seen[0].url, "http://upstream.test/v1/chat/completions");
  assertEquals(seen[0].headers.get("authorization"), "Bearer sk-upstream-secret");
  assertEquals(seen[0].headers.get("x-trace-id"), "req-1");
  assertEquals((await seen[0].json()).model, "upstream-model");
});

Deno.test("streams ask the upstream for usage", async () => {
  const { provider, seen } = providerAnswering(() =>
    new Response("data: [DONE]\n\n", { headers: { "content-type": "text/event-stream" } })
  );
  const result = await provider.chatCompletion({ ...request, stream: true }, call());
  assert(result.kind === "stream");
  await result.body.cancel();
  assertEquals((await seen[0].json()).stream_options, { include_usage: true });
});

Deno.test("upstream statuses are classified", async () => {
  const cases: Array<[number, string]> = [
    [429, "rate_limited"],
    [401, "auth"],
    [403, "auth"],
    [500, "server_error"],
    [503, "server_error"],
    [504, "timeout"],
    [400, "client_error"],
    [404, "client_error"],
  ];
  for (const [status, errorClass] of cases) {
    const { provider } = providerAnswering(() =>
      Response.json({ error: { message: "nope" } }, { status, headers: { "retry-after": "3" } })
    );
    const error = await assertRejects(() => provider.chatCompletion(request, call()));
    assert(error instanceof UpstreamError);
    assertEquals(error.errorClass, errorClass, `status ${status}`);
    assertEquals(error.status, status);
    assertEquals(error.retryAfterSeconds, 3);
  }
});

Deno.test("a 4xx keeps the upstream's message, scrubbed of anything like a key", async () => {
  const { provider } = providerAnswering(() =>
    Response.json({ error: { message: "Bad key sk-proj-abcdefgh1234 for model" } }, {
      status: 400,
    })
  );
  const error = await assertRejects(() => provider.chatCompletion(request, call()));
  assertEquals(error.message, "Bad key [REDACTED] for model");
});

Deno.test("invalid JSON or JSON that is no object is an invalid_response", async () => {
  for (const text of ["{not json", "null", "[1]", "42"]) {
    const { provider } = providerAnswering(() => new Response(text));
    const error = await assertRejects(() => provider.chatCompletion(request, call()));
    assertEquals((error as UpstreamError).errorClass, "invalid_response", text);
  }
});

Deno.test("a non-stream answer to a stream request is an invalid_response", async () => {
  const { provider } = providerAnswering(() => Response.json({}));
  const error = await assertRejects(() =>
    provider.chatCompletion({ ...request, stream: true }, call())
  );
  assertEquals((error as UpstreamError).errorClass, "invalid_response");
});

Deno.test("a connection failure is a connect error; a passed deadline a timeout", async () => {
  const failing = new OpenAIProvider({
    baseUrl: "http://upstream.test/v1",
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  const connect = await assertRejects(() => failing.chatCompletion(request, call()));
  assertEquals((connect as UpstreamError).errorClass, "connect");

  const controller = new AbortController();
  controller.abort(new DOMException("late", "TimeoutError"));
  const timeout = await assertRejects(() =>
    failing.chatCompletion(request, call(controller.signal))
  );
  assertEquals((timeout as UpstreamError).errorClass, "timeout");
});

Deno.test("the upstream's own key is removed from its messages whatever its shape", () => {
  assertEquals(
    scrubSecrets("authorized by local-token-123 ok", "local-token-123"),
    "authorized by [REDACTED] ok",
  );
});

Deno.test("scrubSecrets removes keys and bearer tokens", () => {
  assertStringIncludes(scrubSecrets("use sk-abcdef123456 now"), "use [REDACTED] now");
  assertEquals(scrubSecrets("Authorization: Bearer abc.def"), "Authorization: Bearer [REDACTED]");
});

/** A provider in front of a real fake upstream listening on 127.0.0.1. */
function providerOn(upstream: FakeUpstream): OpenAIProvider {
  return new OpenAIProvider({ baseUrl: upstream.url, apiKey: "sk-upstream-secret" });
}

Deno.test("embeddings go to {base}/embeddings as sent, under the upstream's model name", async () => {
  await using upstream = startFakeUpstream();
  const body = {
    model: "text-embedding-3-small",
    input: ["one", "two"],
    dimensions: 3,
    extra_field: "kept",
  };
  const result = await providerOn(upstream).embeddings(body, call());
  const sent = upstream.received.at(-1)!;
  assertEquals(sent.path, "/v1/embeddings");
  assertEquals(sent.body, { ...body, model: "upstream-model" });
  assertEquals(sent.headers["authorization"], "Bearer sk-upstream-secret");
  assertEquals(sent.headers["x-trace-id"], "req-1");
  assertEquals(result.body.data.map((item) => item.embedding), [
    fakeEmbedding(0),
    fakeEmbedding(1),
  ]);
  assertEquals(result.body.usage, FAKE_EMBEDDING_USAGE);
  assertEquals(JSON.parse(result.text!), result.body, "the upstream's text is kept to send on");
});

Deno.test("embeddings without a data array are an invalid_response", async () => {
  await using upstream = startFakeUpstream({ rawBody: '{"object":"list"}' });
  const error = await assertRejects(() =>
    providerOn(upstream).embeddings({ model: "e", input: "x" }, call())
  );
  assertEquals((error as UpstreamError).errorClass, "invalid_response");
});

Deno.test("legacy completions go to {base}/completions, whole answers passed through", async () => {
  await using upstream = startFakeUpstream();
  const body = { model: "gpt-3.5-turbo-instruct", prompt: "Say hi", max_tokens: 5, echo: true };
  const result = await providerOn(upstream).completions(body, call());
  assert(result.kind === "json");
  assertEquals(upstream.received.at(-1)?.path, "/v1/completions");
  assertEquals(upstream.received.at(-1)?.body, { ...body, model: "upstream-model" });
  assertEquals(result.body.choices[0].text, "fake completion");
  assertEquals(result.body.usage, FAKE_USAGE);
});

Deno.test("streamed completions ask for usage and drop its chunk unless the client asked", async () => {
  await using upstream = startFakeUpstream({ chunks: 4 });
  const provider = providerOn(upstream);
  for (const clientWantsUsage of [false, true]) {
    const result = await provider.completions({
      model: "m",
      prompt: "Count",
      stream: true,
      ...(clientWantsUsage ? { stream_options: { include_usage: true } } : {}),
    }, call());
    assert(result.kind === "stream");
    assertEquals(upstream.received.at(-1)?.body?.stream_options, { include_usage: true });
    const text = await new Response(result.body).text();
    const data = text.trim().split("\n\n").map((event) => event.slice("data: ".length));
    assertEquals(data.at(-1), "[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assertEquals(
      chunks.map((chunk) => chunk.choices[0]?.text ?? "").join(""),
      "part0 part1 part2 part3 ",
    );
    assertEquals(chunks.some((chunk) => chunk.usage), clientWantsUsage);
    const outcome = await result.outcome;
    assertEquals(outcome.usage, FAKE_USAGE, "the gateway reads the usage either way");
    assertEquals(outcome.finishReason, "stop");
    assertEquals(outcome.producedChars, "part0 part1 part2 part3 ".length);
  }
});

Deno.test("a failing upstream fails embeddings and completions like chat", async () => {
  await using upstream = startFakeUpstream({ status: 503 });
  const provider = providerOn(upstream);
  const embeddings = await assertRejects(() =>
    provider.embeddings({ model: "e", input: "x" }, call())
  );
  assertEquals((embeddings as UpstreamError).errorClass, "server_error");
  upstream.behaviour = { status: 400, errorMessage: "prompt too long" };
  const completions = await assertRejects(() =>
    provider.completions({ model: "c", prompt: "x" }, call())
  );
  assertEquals((completions as UpstreamError).errorClass, "client_error");
  assertEquals(completions.message, "prompt too long");
});
