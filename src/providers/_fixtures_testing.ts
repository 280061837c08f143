/**
 * @module
 * Reading the recorded translations of `testdata/` in the providers' fixture tests, and checking
 * a provider's results against them.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { type ChatCompletionRequest, HttpError } from "../core/mod.ts";
import type { Provider, ProviderResult, StreamOutcome, UpstreamCall } from "./types.ts";

/** Every fixture of a folder whose name starts with `prefix`, by name, parsed. */
export async function readFixtures<T>(folder: URL, prefix: string): Promise<Array<[string, T]>> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && entry.name.startsWith(prefix) && entry.name.endsWith(".json")) {
      names.push(entry.name);
    }
  }
  names.sort();
  assert(names.length > 0, `no fixtures named ${prefix}*`);
  return await Promise.all(
    names.map(async (name): Promise<[string, T]> => [
      name,
      JSON.parse(await Deno.readTextFile(new URL(name, folder))),
    ]),
  );
}

/** The request translations of a folder: `request_*` but `request_refused.json`. */
export async function requestFixtures<T>(folder: URL): Promise<Array<[string, T]>> {
  return (await readFixtures<T>(folder, "request_")).filter(([name]) =>
    name !== "request_refused.json"
  );
}

/** `request_refused.json`: requests an upstream cannot honour, each with its error's words. */
interface RefusalFixture {
  cases: Array<{ openai: ChatCompletionRequest; error: string }>;
}

/** What the client gets of a recorded whole answer. */
interface CompletionFixture {
  description: string;
  model: string;
  openai: Record<string, unknown>;
}

/** A whole answer of the upstream (under its own name) and what the client gets of it. */
export type ResponseFixture<Upstream extends string> =
  & CompletionFixture
  & { [key in Upstream]: Record<string, unknown> };

/** What the client gets of a recorded stream; the upstream's side is each upstream's own. */
export interface ChunkFixture {
  description: string;
  model: string;
  clientWantsUsage: boolean;
  /** The parsed `data` of each event the client gets; `[DONE]` as a string. */
  chunks: unknown[];
  outcome: StreamOutcome;
}

/** The provider of one upstream's fixture tests, faked as the tests need. */
export interface FixtureUpstream<Sent> {
  /** A new provider whose upstream answers every call with `answer`, and the calls it sent. */
  answering(answer: () => Response): { provider: Pick<Provider, "chatCompletion">; sent: Sent[] };
  /** The call of a chat completion. */
  call(): UpstreamCall;
}

/** The call of a fixture test's chat completion, to `upstreamModel`. */
export function fixtureCall(upstreamModel: string): UpstreamCall {
  return { signal: new AbortController().signal, traceId: "trace-fixture", upstreamModel };
}

/**
 * Asserts that every request of the folder's `request_refused.json` is refused with the client's
 * 400 saying what the case expects, before any call (which `answer` would have answered).
 */
export async function assertRefusals<Sent>(
  folder: URL,
  upstream: FixtureUpstream<Sent>,
  answer: unknown,
): Promise<void> {
  const [[, fixture]] = await readFixtures<RefusalFixture>(folder, "request_refused");
  for (const { openai, error: expected } of fixture.cases) {
    const { provider, sent } = upstream.answering(() => Response.json(answer));
    const error = await assertRejects(() => provider.chatCompletion(openai, upstream.call()));
    assert(error instanceof HttpError, expected);
    assertEquals([error.status, error.type], [400, "invalid_request_error"], expected);
    assertStringIncludes(error.message, expected);
    assertEquals(sent, [], expected);
  }
}

/** The request the response and stream fixtures answer: one user message to `model`. */
function fixtureRequest(model: string, stream?: ChunkFixture): ChatCompletionRequest {
  const request: ChatCompletionRequest = { model, messages: [{ role: "user", content: "Hi" }] };
  if (!stream) return request;
  return {
    ...request,
    stream: true,
    stream_options: stream.clientWantsUsage ? { include_usage: true } : undefined,
  };
}

/**
 * Asserts that the upstream's whole answer `answer` reaches the client as the recorded
 * completion, its `created` whole seconds; with `madeIdPrefix`, its id is one the gateway made,
 * checked so and left out.
 */
export async function assertCompletion<Sent>(
  upstream: FixtureUpstream<Sent>,
  { answer, fixture, madeIdPrefix }: {
    answer: unknown;
    fixture: CompletionFixture;
    madeIdPrefix?: string;
  },
): Promise<void> {
  const { provider } = upstream.answering(() => Response.json(answer));
  const result = await provider.chatCompletion(fixtureRequest(fixture.model), upstream.call());
  const expected = fixture.openai;
  assert(result.kind === "json");
  const { created, ...completion } = result.body;
  assert(Number.isInteger(created), "created is whole seconds");
  if (madeIdPrefix === undefined) return assertEquals(completion, expected);
  const { id, ...rest } = completion;
  assertStringIncludes(id, madeIdPrefix);
  assertEquals(rest, expected);
}

/**
 * Asserts that the upstream's stream `answer` gives the client the recorded chunks (see
 * {@linkcode parseChunks}) and ends with the recorded outcome; `message` tells which run of the
 * fixture failed. Returns the calls sent.
 */
export async function assertStream<Sent>(
  upstream: FixtureUpstream<Sent>,
  { answer, fixture, message, madeIdPrefix }: {
    answer: () => Response;
    fixture: ChunkFixture;
    message: string;
    madeIdPrefix?: string;
  },
): Promise<Sent[]> {
  const { provider, sent } = upstream.answering(answer);
  const request = fixtureRequest(fixture.model, fixture);
  const result: ProviderResult = await provider.chatCompletion(request, upstream.call());
  assert(result.kind === "stream");
  const text = await new Response(result.body).text();
  assertEquals(parseChunks(text, madeIdPrefix), fixture.chunks, message);
  assertEquals(await result.outcome, fixture.outcome, message);
  return sent;
}

/** An SSE answer of `text`, sent in pieces of `pieceLength` characters. */
export function sseResponse(text: string, pieceLength = text.length): Response {
  const encoder = new TextEncoder();
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= text.length) return controller.close();
      controller.enqueue(encoder.encode(text.slice(offset, offset + pieceLength)));
      offset += pieceLength;
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

/**
 * Parses an OpenAI SSE text into its events' data (`[DONE]` as a string), checking that every
 * chunk has the same `created`, whole seconds, and dropping it; with `madeIdPrefix`, the stream's
 * id is one the gateway made, checked the same way and dropped too.
 */
export function parseChunks(text: string, madeIdPrefix?: string): unknown[] {
  assert(text.endsWith("\n\n"), "the stream ends with a complete event");
  const ids = new Set<unknown>();
  const created = new Set<unknown>();
  const chunks = text.slice(0, -2).split("\n\n").map((event) => {
    assert(event.startsWith("data: "), `an event of one data line: ${event}`);
    const data = event.slice("data: ".length);
    if (data === "[DONE]") return data;
    const { created: stamp, ...chunk } = JSON.parse(data);
    if (stamp !== undefined) created.add(stamp);
    if (madeIdPrefix === undefined || chunk.id === undefined) return chunk;
    const { id, ...rest } = chunk;
    ids.add(id);
    return rest;
  });
  assert(created.size <= 1, "every chunk of a stream has the same created");
  for (const stamp of created) assert(Number.isInteger(stamp), "created is whole seconds");
  assert(ids.size <= 1, "every chunk of a stream has the same id");
  for (const id of ids) assertStringIncludes(String(id), madeIdPrefix ?? "");
  return chunks;
}
