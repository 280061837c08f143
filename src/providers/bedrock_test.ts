/**
 * The bedrock provider against the fake Bedrock, which checks SigV4 with the AWS SDK's own
 * signer: signed calls, a wrong secret refused, Bedrock's exceptions classified, the model list,
 * a broken event stream; and what the registry needs to build one.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import {
  type BedrockCall,
  bedrockError,
  encodeEventStream,
  startFakeBedrock,
  type StreamMessage,
} from "../../tests/fake_bedrock.ts";
import { deploymentSpecSchema } from "../config/routes.ts";
import { BedrockProvider } from "./bedrock.ts";
import { UpstreamError } from "./errors.ts";
import { PROVIDERS, type ProviderSettings } from "./registry.ts";

const CREDENTIALS = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  sessionToken: "FwoGZXIvYXdzEXAMPLESESSIONTOKEN",
};
const REGION = "eu-west-3";
const MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0";

const ANSWER = {
  output: { message: { role: "assistant", content: [{ text: "Bonjour" }] } },
  stopReason: "end_turn",
  usage: { inputTokens: 9, outputTokens: 2, totalTokens: 11 },
};

async function upstreamFailure(fn: () => Promise<unknown>): Promise<UpstreamError> {
  const error = await assertRejects(fn);
  assert(error instanceof UpstreamError, String(error));
  return error;
}

function call() {
  return { signal: new AbortController().signal, traceId: "trace-1", upstreamModel: MODEL_ID };
}

const hello = { model: "claude", messages: [{ role: "user" as const, content: "Hello" }] };

function fakeAnswering(answer: (call: BedrockCall) => Response) {
  return startFakeBedrock({ ...CREDENTIALS, region: REGION, answer });
}

function providerFor(url: string, secretAccessKey = CREDENTIALS.secretAccessKey) {
  return new BedrockProvider({
    region: REGION,
    credentials: { ...CREDENTIALS, secretAccessKey },
    baseUrl: `${url}/`,
  });
}

Deno.test("a signed Converse call reaches the model's path, the session token signed with it", async () => {
  await using bedrock = fakeAnswering(() => Response.json(ANSWER));
  const result = await providerFor(bedrock.url).chatCompletion(hello, call());
  assert(result.kind === "json");
  assertEquals(result.body.choices[0].message.content, "Bonjour");
  assertEquals(bedrock.refused, 0, "the fake recomputed the same signature");
  const [received] = bedrock.received;
  assertEquals([received.operation, received.modelId], ["converse", MODEL_ID]);
  assertEquals(received.headers["x-amz-security-token"], CREDENTIALS.sessionToken);
  assertEquals(received.headers["x-trace-id"], "trace-1");
  assertEquals(received.body, { messages: [{ role: "user", content: [{ text: "Hello" }] }] });
});

Deno.test("a wrong secret is refused by the fake's own check, told as an auth failure", async () => {
  await using bedrock = fakeAnswering(() => Response.json(ANSWER));
  const error = await upstreamFailure(
    () => providerFor(bedrock.url, "not-the-secret").chatCompletion(hello, call()),
  );
  assertEquals([error.errorClass, error.status], ["auth", 403]);
  assertEquals([bedrock.refused, bedrock.received.length], [1, 0]);
  assert(!error.message.includes("not-the-secret"), "the secret is never in a message");
});

Deno.test("the fake refuses a body changed after signing, and a signature without the session token", async () => {
  await using bedrock = fakeAnswering(() => Response.json(ANSWER));
  const tampering = new BedrockProvider({
    region: REGION,
    credentials: CREDENTIALS,
    baseUrl: bedrock.url,
    fetch: (input, init) =>
      fetch(input, { ...init, body: String(init?.body).replace("Hello", "Bye") }),
  });
  const changed = await upstreamFailure(() => tampering.chatCompletion(hello, call()));
  assertEquals(changed.errorClass, "auth");
  const { sessionToken: _, ...longTerm } = CREDENTIALS;
  const withoutToken = new BedrockProvider({
    region: REGION,
    credentials: longTerm,
    baseUrl: bedrock.url,
  });
  const unsigned = await upstreamFailure(() => withoutToken.chatCompletion(hello, call()));
  assertEquals(unsigned.errorClass, "auth");
  assertEquals([bedrock.refused, bedrock.received.length], [2, 0]);
});

Deno.test("Bedrock's exceptions are classified by name, their status where it is right", async () => {
  const cases: Array<[Response, string, number]> = [
    [bedrockError(429, "ThrottlingException", "Too many requests"), "rate_limited", 429],
    [bedrockError(429, "ModelNotReadyException", "Model is not ready"), "rate_limited", 429],
    [bedrockError(424, "ModelErrorException", "The model failed"), "server_error", 424],
    [bedrockError(408, "ModelTimeoutException", "The model took too long"), "timeout", 408],
    [bedrockError(503, "ServiceUnavailableException", "Unavailable"), "server_error", 503],
    [bedrockError(500, "InternalServerException", "Internal"), "server_error", 500],
    [bedrockError(403, "AccessDeniedException", "No access to the model"), "auth", 403],
    [new Response("{}", { status: 404 }), "client_error", 404],
  ];
  for (const [answer, errorClass, status] of cases) {
    await using bedrock = fakeAnswering(() => answer);
    const error = await upstreamFailure(
      () => providerFor(bedrock.url).chatCompletion(hello, call()),
    );
    assertEquals([error.errorClass, error.status], [errorClass, status]);
  }
});

Deno.test("a ValidationException's message reaches the client's 400", async () => {
  await using bedrock = fakeAnswering(() =>
    bedrockError(400, "ValidationException", "The model returned the following errors: bad")
  );
  const error = await upstreamFailure(
    () => providerFor(bedrock.url).chatCompletion(hello, call()),
  );
  assertEquals(error.errorClass, "client_error");
  assertEquals(error.message, "The model returned the following errors: bad");
});

Deno.test("listModels lists the region's text models, signed like every call", async () => {
  await using bedrock = fakeAnswering(() => Response.json(ANSWER));
  const models = await providerFor(bedrock.url).listModels(new AbortController().signal);
  assertEquals(models, [{ id: MODEL_ID, object: "model", created: 0, owned_by: "anthropic" }]);
  assertEquals(bedrock.refused, 0);
});

function eventStream(bytes: Uint8Array<ArrayBuffer>): Response {
  return new Response(bytes, { headers: { "content-type": "application/vnd.amazon.eventstream" } });
}

const start: StreamMessage = { event: "messageStart", payload: { role: "assistant" } };

Deno.test("a stream that fails before its first event fails the call, so that it can be retried", async () => {
  const throttled = encodeEventStream([
    { exception: "throttlingException", payload: { message: "Too many tokens" } },
  ]);
  const corrupt = encodeEventStream([start]);
  corrupt[corrupt.length - 1] ^= 0xff;
  const cases: Array<[Response, string]> = [
    [Response.json(ANSWER), "invalid_response"],
    [eventStream(throttled), "rate_limited"],
    [eventStream(corrupt), "invalid_response"],
    [eventStream(new Uint8Array(0)), "invalid_response"],
  ];
  for (const [answer, errorClass] of cases) {
    await using bedrock = fakeAnswering(() => answer);
    const error = await upstreamFailure(() =>
      providerFor(bedrock.url).chatCompletion({ ...hello, stream: true }, call())
    );
    assertEquals(error.errorClass, errorClass);
  }
});

Deno.test("a corrupt message after the first ends the stream in-band as an invalid response", async () => {
  const first = encodeEventStream([start]);
  const second = encodeEventStream([
    { event: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: "Hi" } } },
  ]);
  second[second.length - 1] ^= 0xff;
  const bytes = new Uint8Array(first.length + second.length);
  bytes.set(first);
  bytes.set(second, first.length);
  await using bedrock = fakeAnswering(() => eventStream(bytes));
  const result = await providerFor(bedrock.url).chatCompletion({ ...hello, stream: true }, call());
  assert(result.kind === "stream");
  const text = await new Response(result.body).text();
  assertStringIncludes(text, '"role":"assistant"');
  assertStringIncludes(text, "upstream_invalid_response");
  assertEquals((await result.outcome).error, "invalid_response");
});

Deno.test("a stream cut after its stop reason ends well, its usage left to the estimate", async () => {
  const bytes = encodeEventStream([
    start,
    { event: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: "Hi" } } },
    { event: "messageStop", payload: { stopReason: "end_turn" } },
  ]);
  await using bedrock = fakeAnswering(() => eventStream(bytes));
  const result = await providerFor(bedrock.url).chatCompletion({ ...hello, stream: true }, call());
  assert(result.kind === "stream");
  const text = await new Response(result.body).text();
  assert(text.endsWith("data: [DONE]\n\n"));
  assertEquals(await result.outcome, { producedChars: 2, finishReason: "stop" });
});

const settings: ProviderSettings = {
  baseUrl: undefined,
  apiKey: undefined,
  fetch,
  defaultMaxTokens: 1024,
  mockModels: [],
  aws: { accessKeyId: "AKID", secretAccessKey: "secret" },
};

function thrown(build: () => unknown): string {
  try {
    build();
  } catch (error) {
    return (error as Error).message;
  }
  return "";
}

Deno.test("the registry's bedrock needs a region and both AWS keys", () => {
  assertEquals(thrown(() => PROVIDERS.bedrock(settings)), "needs a region (or AWS_REGION)");
  const keys = "needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
  assertEquals(thrown(() => PROVIDERS.bedrock({ ...settings, region: REGION, aws: {} })), keys);
  assertEquals(PROVIDERS.bedrock({ ...settings, region: REGION }).name, "bedrock");
  const fromEnvironment = { ...settings, aws: { ...settings.aws, region: "us-east-1" } };
  assertEquals(PROVIDERS.bedrock(fromEnvironment).name, "bedrock");
});

Deno.test("MODEL_ROUTES takes a region on bedrock deployments only, and a real region name", () => {
  const bedrock = { provider: "bedrock", model: MODEL_ID };
  assert(deploymentSpecSchema.safeParse({ ...bedrock, region: "us-gov-west-1" }).success);
  assert(!deploymentSpecSchema.safeParse({ ...bedrock, region: "Paris" }).success);
  const openai = deploymentSpecSchema.safeParse({ provider: "openai", model: "m", region: REGION });
  assert(!openai.success);
  assertEquals(openai.error.issues[0].message, "is a field of bedrock deployments only");
});
