/**
 * @module
 * A fake Anthropic Messages API for end-to-end tests, on 127.0.0.1, answering the recorded
 * fixtures of `src/providers/testdata/anthropic/`: text, or a tool call when the request offers
 * tools and its last turn is not a tool's result; whole, or as the fixture's SSE events.
 */

const FIXTURES = new URL("../src/providers/testdata/anthropic/", import.meta.url);

/** A request the fake received. */
export interface ReceivedAnthropicRequest {
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** A running fake Anthropic API. */
export interface FakeAnthropic extends AsyncDisposable {
  /** Its base URL, for `ANTHROPIC_BASE_URL`. */
  url: string;
  received: ReceivedAnthropicRequest[];
}

async function fixture(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, FIXTURES)));
}

/** Whether an Anthropic request offers tools and waits for a call. */
function callsTool(body: Record<string, unknown>): boolean {
  if (!Array.isArray(body.tools) || body.tools.length === 0) return false;
  const last = Array.isArray(body.messages) ? body.messages.at(-1) : undefined;
  const content = Array.isArray(last?.content) ? last.content : [];
  return !content.some((block: { type?: string }) => block.type === "tool_result");
}

/** Starts a fake Anthropic API on `/v1/messages`. */
export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const text = (await fixture("response_text")).anthropic;
  const toolUse = (await fixture("response_tool_use_only")).anthropic;
  const textEvents = (await fixture("stream_text")).events as string[];
  const toolEvents = (await fixture("stream_tool_call")).events as string[];
  const received: ReceivedAnthropicRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    if (new URL(request.url).pathname !== "/v1/messages") {
      return new Response(null, { status: 404 });
    }
    const body = await request.json();
    received.push({ headers: Object.fromEntries(request.headers), body });
    const tool = callsTool(body);
    if (!body.stream) return Response.json(tool ? toolUse : text);
    return new Response((tool ? toolEvents : textEvents).join("\n") + "\n", {
      headers: { "content-type": "text/event-stream" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}
