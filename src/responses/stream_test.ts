import { assert, assertEquals } from "../../tests/assert.ts";
import { chatSse, parseEvents } from "./_test_utils.ts";
import { responseShell } from "./from_chat.ts";
import { responsesRequestSchema } from "./schema.ts";
import { ChatToResponsesStream } from "./stream.ts";
import type { ResponseObject } from "./types.ts";

const TERMINAL = new Set(["response.completed", "response.incomplete", "response.failed"]);

function shell(): ResponseObject {
  const request = responsesRequestSchema.parse({ model: "gpt-4o", input: "hi", stream: true });
  return responseShell(request, { id: `resp_${"1".repeat(40)}`, createdAt: 1, model: "gpt-4o" });
}

/** A small seeded generator (mulberry32), so that a failing case can be replayed by its seed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEXTS = ["", "Hel", "lo", " wörld", "🙂", "\n", '{"a":', "1}", "ünïcode"];

/** A random chat chunk sequence: text, tool calls on up to three indexes, noise, an end. */
function chunkSequence(next: () => number): unknown[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const chunks: unknown[] = [];
  const started = new Set<number>();
  const length = Math.floor(next() * 12);
  for (let i = 0; i < length; i++) {
    const kind = next();
    if (kind < 0.4) {
      chunks.push({
        choices: [{ index: 0, delta: { content: pick(TEXTS) }, finish_reason: null }],
      });
    } else if (kind < 0.8) {
      const index = Math.floor(next() * 3);
      const call = started.has(index) ? { index, function: { arguments: pick(TEXTS) } } : {
        index,
        id: `call_${index}`,
        type: "function",
        function: { name: `f${index}`, arguments: "" },
      };
      started.add(index);
      chunks.push({ choices: [{ index: 0, delta: { tool_calls: [call] }, finish_reason: null }] });
    } else if (kind < 0.9) {
      chunks.push({ choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }] });
    } else {
      chunks.push(pick([": keep-alive", "not json", "[1, 2]"]));
    }
  }
  const finish = pick(["stop", "tool_calls", "length", "content_filter", null]);
  if (finish) chunks.push({ choices: [{ index: 0, delta: {}, finish_reason: finish }] });
  if (next() < 0.7) {
    chunks.push({
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
  }
  if (next() < 0.1) chunks.push({ error: { message: "broke off", code: "upstream_connect" } });
  if (next() < 0.8) chunks.push("[DONE]");
  return chunks;
}

/** `text` as UTF-8 bytes cut at random places, through multi-byte characters too. */
function randomPieces(text: string, next: () => number): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < bytes.length;) {
    const end = Math.min(bytes.length, start + 1 + Math.floor(next() * 40));
    pieces.push(bytes.slice(start, end));
    start = end;
  }
  return pieces;
}

async function translate(pieces: Uint8Array[]): Promise<Array<Record<string, unknown>>> {
  const body = ReadableStream.from(pieces).pipeThrough(
    new ChatToResponsesStream({ shell: shell() }),
  );
  return parseEvents(await new Response(body).text());
}

/** Checks one event sequence against the Responses API's streaming rules; throws on the first break. */
function assertWellFormed(events: Array<Record<string, unknown>>): void {
  assertEquals(events[0].type, "response.created");
  assertEquals(events[1].type, "response.in_progress");
  events.forEach((event, index) => assertEquals(event.sequence_number, index));
  const terminal = events.filter((event) => TERMINAL.has(event.type as string));
  assertEquals(terminal.length, 1);
  assertEquals(events.at(-1), terminal[0]);
  const openItems = new Map<number, Record<string, unknown>>();
  /** The open content part of each open message item: its index and its text so far. */
  const openParts = new Map<number, { contentIndex: number; text: string }>();
  const doneItems: unknown[] = [];
  let added = 0;
  for (const event of events.slice(2, -1)) {
    const index = event.output_index as number;
    switch (event.type) {
      case "response.output_item.added":
        assert(!openItems.has(index), `item ${index} added twice`);
        assertEquals(index, added++, "items are added in output order");
        openItems.set(index, event.item as Record<string, unknown>);
        break;
      case "response.content_part.added":
        assert(openItems.has(index) && !openParts.has(index), "one open part at a time");
        openParts.set(index, { contentIndex: event.content_index as number, text: "" });
        break;
      case "response.output_text.delta":
      case "response.refusal.delta": {
        const part = openParts.get(index);
        assert(part, `a delta outside an open part of item ${index}`);
        assertEquals(event.content_index, part.contentIndex);
        part.text += event.delta as string;
        break;
      }
      case "response.output_text.done":
      case "response.refusal.done": {
        const part = openParts.get(index);
        assert(part && event.content_index === part.contentIndex);
        assertEquals(
          event.type === "response.output_text.done" ? event.text : event.refusal,
          part.text,
        );
        break;
      }
      case "response.content_part.done":
        assert(openParts.delete(index), "a part done without being added");
        break;
      case "response.function_call_arguments.delta":
      case "response.function_call_arguments.done":
        assertEquals(openItems.get(index)?.type, "function_call");
        break;
      case "response.output_item.done":
        assert(openItems.delete(index), `item ${index} done without being added`);
        assert(!openParts.has(index), `item ${index} done with its part open`);
        doneItems[index] = event.item;
        break;
      default:
        throw new Error(`Unexpected event ${event.type}`);
    }
  }
  assertEquals(openItems.size, 0);
  const response = terminal[0].response as ResponseObject;
  assertEquals(response.output, doneItems);
}

Deno.test("any chat chunk sequence, cut anywhere, becomes a well-formed Responses event sequence", async () => {
  for (let seed = 1; seed <= 400; seed++) {
    const next = random(seed);
    const chunks = chunkSequence(next);
    const events = await translate(randomPieces(chatSse(chunks), next));
    try {
      assertWellFormed(events);
    } catch (error) {
      throw new Error(`seed ${seed}: ${JSON.stringify(chunks)}`, { cause: error });
    }
  }
});

Deno.test("a stream that ends normally ends with response.completed carrying the usage", async () => {
  const events = await translate([new TextEncoder().encode(chatSse([
    { choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: "stop" }] },
    { choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } },
    "[DONE]",
  ]))]);
  const last = events.at(-1)!;
  assertEquals(last.type, "response.completed");
  assertEquals((last.response as ResponseObject).usage?.output_tokens, 1);
});

Deno.test("an upstream break mid-stream ends with response.failed and its items closed", async () => {
  const events = await translate([new TextEncoder().encode(chatSse([
    { choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] },
    { error: { message: "Upstream failure", type: "upstream_error", code: "upstream_connect" } },
  ]))]);
  assertWellFormed(events);
  const response = events.at(-1)!.response as ResponseObject;
  assertEquals(response.status, "failed");
  assertEquals(response.error, { code: "upstream_connect", message: "Upstream failure" });
  assertEquals(response.output[0].status, "incomplete");
});

Deno.test("events go out as chunks arrive, before the upstream has finished", async () => {
  const upstream = new TransformStream<Uint8Array, Uint8Array>();
  const reader = upstream.readable.pipeThrough(new ChatToResponsesStream({ shell: shell() }))
    .getReader();
  const writer = upstream.writable.getWriter();
  const decoder = new TextDecoder();
  assertEquals(parseEvents(decoder.decode((await reader.read()).value)).length, 2);
  writer.write(new TextEncoder().encode(chatSse([
    { choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] },
  ])));
  const events = parseEvents(decoder.decode((await reader.read()).value));
  assertEquals(events.map((event) => event.type), [
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
  ]);
  await writer.close();
  await reader.cancel();
});

Deno.test("the finished response is handed over before the terminal event goes out", async () => {
  let stored: ResponseObject | undefined;
  const body = new Response(chatSse([
    { choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: "length" }] },
  ])).body!.pipeThrough(
    new ChatToResponsesStream({
      shell: shell(),
      onFinish: (response) => {
        stored = response;
        return Promise.resolve();
      },
    }),
  );
  const events = parseEvents(await new Response(body).text());
  assertEquals(events.at(-1)!.type, "response.incomplete");
  assertEquals(stored, events.at(-1)!.response);
});
