/**
 * @module
 * An OpenAI-compatible upstream for tests, on 127.0.0.1, that records what it receives and can be
 * told to fail, stall or stream slowly. It answers chat completions, legacy completions (both
 * whole and streamed), embeddings, and OpenAI's Responses API (`/v1/responses`, whole and
 * streamed) as a deployment that speaks it natively.
 */

/** How the fake upstream answers the next requests. */
export interface UpstreamBehaviour {
  /** Answer with this status and an OpenAI error body. */
  status?: number;
  /** The error body's message with `status`; `fake failure <status>` by default. */
  errorMessage?: string;
  /** Extra response headers, e.g. `retry-after`. */
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Delay between stream chunks. */
  chunkDelayMs?: number;
  /** Answer 200 with this raw text instead of JSON. */
  rawBody?: string;
  /** Include a usage chunk in streams only when asked (true) or never (false). */
  streamUsage?: boolean;
  /** Number of content chunks in a stream. */
  chunks?: number;
  /** Break the connection off after this many stream events, as a reset mid-stream. */
  breakAfterEvents?: number;
  /** Leave the usage out of whole (JSON) answers. */
  omitUsage?: boolean;
  /** Number each answer's id by the request's place (`chatcmpl-fake-3`), to tell answers apart. */
  numberedIds?: boolean;
  /**
   * Answer a chat request that offers tools and ends in the user's turn with one call of its
   * first tool ({@linkcode FAKE_TOOL_ARGUMENTS}), as a model that wants a tool's result would.
   */
  toolCalls?: boolean;
}

/** The arguments of the fake's tool calls (see `toolCalls`). */
export const FAKE_TOOL_ARGUMENTS = '{"location":"Paris"}';

/** The usage of every chat and legacy completions answer. */
export const FAKE_USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

/** The usage of every embeddings answer. */
export const FAKE_EMBEDDING_USAGE = { prompt_tokens: 5, total_tokens: 5 };

/** The vector the fake answers for the input at `index`. */
export function fakeEmbedding(index: number): number[] {
  return [0.5, -0.25, index];
}

/** A request the fake upstream received. */
export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
}

/** A running fake upstream. */
export interface FakeUpstream {
  url: string;
  received: ReceivedRequest[];
  behaviour: UpstreamBehaviour;
  /** Streams whose client went away before the end. */
  canceledStreams: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const encoder = new TextEncoder();

/** Starts a fake OpenAI-compatible upstream; its base URL ends in `/v1`. */
export function startFakeUpstream(initial: UpstreamBehaviour = {}): FakeUpstream {
  const state: FakeUpstream = {
    url: "",
    received: [],
    behaviour: initial,
    canceledStreams: 0,
    close: () => server.shutdown(),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const text = await request.text();
    let body: Record<string, unknown> | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    state.received.push({
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      body,
    });
    const behaviour = state.behaviour;
    if (behaviour.delayMs) await sleep(behaviour.delayMs, request.signal);
    if (url.pathname === "/v1/models") {
      return Response.json({
        object: "list",
        data: [{ id: "upstream-model", object: "model", created: 1, owned_by: "fake" }],
      });
    }
    if (behaviour.status && behaviour.status >= 400) {
      return Response.json({
        error: {
          message: behaviour.errorMessage ?? `fake failure ${behaviour.status}`,
          type: "server_error",
          code: null,
        },
      }, { status: behaviour.status, headers: behaviour.headers });
    }
    if (behaviour.rawBody !== undefined) {
      return new Response(behaviour.rawBody, { headers: { "content-type": "application/json" } });
    }
    const model = String(body?.model ?? "unknown");
    if (url.pathname === "/v1/embeddings") return embeddingsAnswer(body, model, behaviour);
    if (url.pathname === "/v1/responses") return nativeResponse(body, model);
    const legacy = url.pathname === "/v1/completions";
    const usage = FAKE_USAGE;
    const id = `${legacy ? "cmpl-fake" : "chatcmpl-fake"}${
      behaviour.numberedIds ? `-${state.received.length}` : ""
    }`;
    const toolCall = !legacy && behaviour.toolCalls ? toolCallOf(body) : undefined;
    if (!body?.stream) {
      const answer = toolCall
        ? {
          id,
          object: "chat.completion",
          created: 1,
          model,
          choices: [{
            index: 0,
            message: { role: "assistant", content: null, tool_calls: [toolCall] },
            finish_reason: "tool_calls",
          }],
        }
        : legacy
        ? {
          id,
          object: "text_completion",
          created: 1,
          model,
          choices: [{ index: 0, text: "fake completion", logprobs: null, finish_reason: "stop" }],
        }
        : {
          id,
          object: "chat.completion",
          created: 1,
          model,
          choices: [{
            index: 0,
            message: { role: "assistant", content: "fake answer" },
            finish_reason: "stop",
          }],
        };
      return Response.json(behaviour.omitUsage ? answer : { ...answer, usage });
    }
    const wantsUsage = (body.stream_options as { include_usage?: boolean } | undefined)
      ?.include_usage === true;
    const event = (choices: unknown[], extra: Record<string, unknown>) =>
      `data: ${
        JSON.stringify({
          id,
          object: legacy ? "text_completion" : "chat.completion.chunk",
          created: 1,
          model,
          choices,
          ...extra,
        })
      }\n\n`;
    const nullUsage = wantsUsage ? { usage: null } : {};
    const chunk = (content: string | undefined, finish: string | null) => {
      const choice = legacy
        ? { index: 0, text: content ?? "", logprobs: null, finish_reason: finish }
        : { index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish };
      return event([choice], nullUsage);
    };
    const role = { index: 0, delta: { role: "assistant", content: "" }, finish_reason: null };
    const events = legacy ? [] : [event([role], nullUsage)];
    if (toolCall) {
      const { id: callId, type, function: { name, arguments: args } } = toolCall;
      const start = { index: 0, id: callId, type, function: { name, arguments: "" } };
      const delta = (calls: unknown) => ({
        index: 0,
        delta: { tool_calls: calls },
        finish_reason: null,
      });
      events.push(event([delta([start])], nullUsage));
      // The arguments in two fragments, as models stream them.
      for (const fragment of [args.slice(0, 5), args.slice(5)]) {
        events.push(event([delta([{ index: 0, function: { arguments: fragment } }])], nullUsage));
      }
      events.push(event([{ index: 0, delta: {}, finish_reason: "tool_calls" }], nullUsage));
    } else {
      for (let i = 0; i < (behaviour.chunks ?? 3); i++) events.push(chunk(`part${i} `, null));
      events.push(chunk(undefined, "stop"));
    }
    if (wantsUsage && behaviour.streamUsage !== false) events.push(event([], { usage }));
    events.push("data: [DONE]\n\n");
    let index = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (index > 0 && behaviour.chunkDelayMs) await sleep(behaviour.chunkDelayMs);
        if (index === behaviour.breakAfterEvents) {
          return controller.error(new Error("fake upstream broke the stream off"));
        }
        if (index < events.length) controller.enqueue(encoder.encode(events[index++]));
        else controller.close();
      },
      cancel() {
        state.canceledStreams++;
      },
    }, { highWaterMark: 0 });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  });
  state.url = `http://127.0.0.1:${server.addr.port}/v1`;
  return state;
}

/** The fake's call of the request's first tool, unless the request ends in a tool's result. */
function toolCallOf(body: Record<string, unknown> | undefined) {
  const tools = body?.tools as Array<{ function?: { name?: string } }> | undefined;
  const messages = body?.messages as Array<{ role?: string }> | undefined;
  const name = tools?.[0]?.function?.name;
  if (!name || messages?.at(-1)?.role === "tool") return undefined;
  return {
    id: "call_fake_1",
    type: "function" as const,
    function: { name, arguments: FAKE_TOOL_ARGUMENTS },
  };
}

/** The usage of every native Responses answer. */
export const FAKE_RESPONSES_USAGE = { input_tokens: 11, output_tokens: 7, total_tokens: 18 };

/** A native Responses API answer saying `fake native answer`, whole or as its events. */
function nativeResponse(body: Record<string, unknown> | undefined, model: string): Response {
  const message = {
    type: "message",
    id: "msg_fake",
    status: "completed",
    role: "assistant",
    content: [{ type: "output_text", text: "fake native answer", annotations: [] }],
  };
  const response = {
    id: `resp_fake_${crypto.randomUUID().replaceAll("-", "")}`,
    object: "response",
    created_at: 1,
    status: "completed",
    model,
    output: [message],
    usage: FAKE_RESPONSES_USAGE,
  };
  if (!body?.stream) return Response.json(response);
  const started = { ...response, status: "in_progress", output: [], usage: null };
  const events = [
    { type: "response.created", response: started },
    { type: "response.output_item.added", output_index: 0, item: { ...message, content: [] } },
    {
      type: "response.content_part.added",
      item_id: "msg_fake",
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] },
    },
    {
      type: "response.output_text.delta",
      item_id: "msg_fake",
      output_index: 0,
      content_index: 0,
      delta: "fake native answer",
    },
    {
      type: "response.output_text.done",
      item_id: "msg_fake",
      output_index: 0,
      content_index: 0,
      text: "fake native answer",
    },
    {
      type: "response.content_part.done",
      item_id: "msg_fake",
      output_index: 0,
      content_index: 0,
      part: message.content[0],
    },
    { type: "response.output_item.done", output_index: 0, item: message },
    { type: "response.completed", response },
  ];
  const text = events.map((event, index) =>
    `event: ${event.type}\ndata: ${JSON.stringify({ ...event, sequence_number: index })}\n\n`
  ).join("");
  return new Response(text, { headers: { "content-type": "text/event-stream" } });
}

/** An embeddings answer: one vector per input, as floats or base64 as asked. */
function embeddingsAnswer(
  body: Record<string, unknown> | undefined,
  model: string,
  behaviour: UpstreamBehaviour,
): Response {
  const input = body?.input;
  const count = Array.isArray(input) && typeof input[0] !== "number" ? input.length : 1;
  const data = Array.from({ length: count }, (_, index) => {
    const vector = fakeEmbedding(index);
    const embedding = body?.encoding_format === "base64" ? float32Base64(vector) : vector;
    return { object: "embedding", index, embedding };
  });
  const answer = { object: "list", data, model };
  return Response.json(behaviour.omitUsage ? answer : { ...answer, usage: FAKE_EMBEDDING_USAGE });
}

function float32Base64(vector: number[]): string {
  const bytes = new DataView(new ArrayBuffer(vector.length * 4));
  vector.forEach((value, index) => bytes.setFloat32(index * 4, value, true));
  return new Uint8Array(bytes.buffer).toBase64();
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
