/**
 * @module
 * An OpenAI-compatible upstream for tests, on 127.0.0.1, that records what it receives and can be
 * told to fail, stall or stream slowly.
 */

/** How the fake upstream answers the next chat requests. */
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
    const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
    if (!body?.stream) {
      return Response.json({
        id: "chatcmpl-fake",
        object: "chat.completion",
        created: 1,
        model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: "fake answer" },
          finish_reason: "stop",
        }],
        usage,
      });
    }
    const wantsUsage = (body.stream_options as { include_usage?: boolean } | undefined)
      ?.include_usage === true;
    const event = (choices: unknown[], extra: Record<string, unknown>) =>
      `data: ${
        JSON.stringify({
          id: "chatcmpl-fake",
          object: "chat.completion.chunk",
          created: 1,
          model,
          choices,
          ...extra,
        })
      }\n\n`;
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      event([{ index: 0, delta, finish_reason: finish }], wantsUsage ? { usage: null } : {});
    const events = [chunk({ role: "assistant", content: "" }, null)];
    for (let i = 0; i < (behaviour.chunks ?? 3); i++) {
      events.push(chunk({ content: `part${i} ` }, null));
    }
    events.push(chunk({}, "stop"));
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
