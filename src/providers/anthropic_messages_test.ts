/** The Anthropic provider's native Messages calls: bodies and stream events passed through. */
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { type MessagesRequest, messagesRequestSchema } from "../core/mod.ts";
import { AnthropicProvider } from "./anthropic.ts";
import { serve, type TestServer } from "./_http1_testing.ts";

const API_KEY = "sk-ant-api03-secret-native-key";

const call = {
  signal: new AbortController().signal,
  traceId: "trace-native-1",
  upstreamModel: "claude-sonnet-4-5-20250929",
};

function providerFor(server: TestServer) {
  return new AnthropicProvider({
    baseUrl: server.url("/"),
    apiKey: API_KEY,
    defaultMaxTokens: 512,
  });
}

const request: MessagesRequest = messagesRequestSchema.parse({
  model: "claude",
  max_tokens: 100,
  messages: [{
    role: "user",
    content: [{ type: "text", text: "Hi", cache_control: { type: "ephemeral" } }],
  }],
  context_management: { edits: [] },
});

// Spaced and ordered as the upstream wrote it: passed through, it reaches the client as it is.
const ANSWER_TEXT =
  '{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",' +
  '"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,' +
  '"usage":{"input_tokens":8,"cache_creation_input_tokens":100,"cache_read_input_tokens":50,"output_tokens":2}}';

const STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":20,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi!"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":12}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
];

Deno.test("a native Messages call sends the client's request with the model renamed and its Anthropic headers, and answers the upstream's text untouched", async () => {
  const seen: Array<{ path: string; headers: Headers; body: unknown }> = [];
  await using server = serve(async (upstream) => {
    seen.push({
      path: new URL(upstream.url).pathname,
      headers: upstream.headers,
      body: await upstream.json(),
    });
    return new Response(ANSWER_TEXT, { headers: { "content-type": "application/json" } });
  });
  const result = await providerFor(server).messages(
    {
      request,
      headers: { anthropicVersion: "2023-06-01", anthropicBeta: "context-management-2025-06-27" },
    },
    call,
  );
  assert(result.kind === "json");
  assertEquals(result.text, ANSWER_TEXT);
  assertEquals(result.body.usage.cache_read_input_tokens, 50);
  const sent = seen[0];
  assertEquals(sent.path, "/v1/messages");
  assertEquals(sent.body, { ...request, model: "claude-sonnet-4-5-20250929" });
  assertEquals(sent.headers.get("x-api-key"), API_KEY);
  assertEquals(sent.headers.get("anthropic-beta"), "context-management-2025-06-27");
  assertEquals(sent.headers.get("anthropic-version"), "2023-06-01");
});

Deno.test("a native Messages stream reaches the client byte for byte, its usage (cache reads included) read on the way", async () => {
  await using server = serve(() =>
    new Response(STREAM.join(""), { headers: { "content-type": "text/event-stream" } })
  );
  const result = await providerFor(server).messages({
    request: { ...request, stream: true },
    headers: {},
  }, call);
  assert(result.kind === "stream");
  assertEquals(await new Response(result.body).text(), STREAM.join(""));
  assertEquals(await result.outcome, {
    producedChars: 7,
    finishReason: "end_turn",
    usage: {
      prompt_tokens: 29,
      completion_tokens: 12,
      total_tokens: 41,
      prompt_tokens_details: { cached_tokens: 20 },
    },
  });
});

Deno.test("a native Messages stream cut short ends with Anthropic's error event and no usage", async () => {
  await using server = serve(() =>
    new Response(STREAM.slice(0, 3).join(""), { headers: { "content-type": "text/event-stream" } })
  );
  const result = await providerFor(server).messages({
    request: { ...request, stream: true },
    headers: {},
  }, call);
  assert(result.kind === "stream");
  const text = await new Response(result.body).text();
  assert(text.startsWith(STREAM.slice(0, 3).join("")));
  assertStringIncludes(text, 'event: error\ndata: {"type":"error","error":{"type":"api_error"');
  const outcome = await result.outcome;
  assertEquals([outcome.error, outcome.usage, outcome.producedChars], [
    "invalid_response",
    undefined,
    4,
  ]);
});

Deno.test("count_tokens goes to Anthropic's endpoint with the model renamed", async () => {
  const seen: unknown[] = [];
  await using server = serve(async (upstream) => {
    seen.push([new URL(upstream.url).pathname, await upstream.json()]);
    return Response.json({ input_tokens: 14 });
  });
  const { model: _, ...rest } = request;
  const counted = await providerFor(server).countTokens({
    request: { model: "claude", ...rest },
    headers: {},
  }, call);
  assertEquals(counted.body, { input_tokens: 14 });
  assertEquals(seen, [["/v1/messages/count_tokens", {
    ...rest,
    model: "claude-sonnet-4-5-20250929",
  }]]);
});
