/**
 * @module
 * A fast OpenAI-compatible upstream for the benchmark, run as its own process so that it does not
 * share an event loop with the gateway or the benchmark: `deno run --allow-net=127.0.0.1
 * mock_upstream.ts <port>`. Every chat completion gets the same small answer with usage; a
 * streamed one (`"stream": true`) gets it as SSE chunks, the usage chunk too when the request's
 * `stream_options.include_usage` asks for it, as OpenAI does.
 */

const COMPLETION = new TextEncoder().encode(JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{
    index: 0,
    message: { role: "assistant", content: "Hello! How can I help you today?" },
    logprobs: null,
    finish_reason: "stop",
  }],
  usage: { prompt_tokens: 9, completion_tokens: 9, total_tokens: 18 },
}));

const CHUNK = {
  id: "chatcmpl-bench",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
};

const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

// Each event is its own enqueued chunk, so that the first reaches the client on its own.
const STREAM_EVENTS = [
  sse({
    ...CHUNK,
    choices: [{
      index: 0,
      delta: { role: "assistant", content: "Hello! How can I help you today?" },
      finish_reason: null,
    }],
  }),
  sse({ ...CHUNK, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
].map((event) => new TextEncoder().encode(event));

const USAGE_EVENT = new TextEncoder().encode(sse({
  ...CHUNK,
  choices: [],
  usage: { prompt_tokens: 9, completion_tokens: 9, total_tokens: 18 },
}));

const DONE_EVENT = new TextEncoder().encode("data: [DONE]\n\n");

const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

/** What of a chat request decides the answer's shape. */
interface ChatRequestShape {
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
}

function streamedAnswer(withUsage: boolean): Response {
  const events = withUsage ? [...STREAM_EVENTS, USAGE_EVENT, DONE_EVENT] : [
    ...STREAM_EVENTS,
    DONE_EVENT,
  ];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const event of events) controller.enqueue(event);
      controller.close();
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}

const MODELS = JSON.stringify({
  object: "list",
  data: [{ id: "gpt-4o-mini", object: "model", created: 1_700_000_000, owned_by: "bench" }],
});

const JSON_HEADERS = { "content-type": "application/json" };

/** Answers one request of the mock upstream. */
export async function handleMockRequest(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (request.method === "POST" && pathname === "/v1/chat/completions") {
    // Read the body as a real upstream would, so keep-alive and timing stay honest.
    const chat = await request.json() as ChatRequestShape;
    if (chat.stream === true) return streamedAnswer(chat.stream_options?.include_usage === true);
    return new Response(COMPLETION, { headers: JSON_HEADERS });
  }
  if (request.method === "GET" && pathname === "/v1/models") {
    return new Response(MODELS, { headers: JSON_HEADERS });
  }
  if (pathname === "/health") return new Response("ok");
  return new Response(JSON.stringify({ error: { message: "not found" } }), {
    status: 404,
    headers: JSON_HEADERS,
  });
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error(
      `Cannot start the mock upstream as the port is invalid: current value is '${Deno.args[0]}'`,
    );
    Deno.exit(2);
  }
  Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handleMockRequest);
}
