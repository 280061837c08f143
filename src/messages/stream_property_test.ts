/**
 * Property: whatever sequence of chat chunks an upstream sends (text, reasoning, tool calls of
 * any index, finish reasons, usage, `[DONE]` or none, in any order), the client gets a
 * well-formed Anthropic event sequence.
 */
import { assert, assertEquals } from "../../tests/assert.ts";
import { ChatToMessagesEvents } from "./stream.ts";

/** A small seeded generator (mulberry32), so that a failing case can be replayed by its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChunk(next: () => number): string {
  const pick = Math.floor(next() * 8);
  const delta: Record<string, unknown> = {};
  let finish: string | null = null;
  let usage: unknown;
  switch (pick) {
    case 0:
    case 1:
      delta.content = next() < 0.1 ? "" : `t${Math.floor(next() * 100)}`;
      break;
    case 2:
      delta.reasoning_content = `r${Math.floor(next() * 100)}`;
      break;
    case 3:
    case 4: {
      const call: Record<string, unknown> = { index: Math.floor(next() * 3) };
      const fn: Record<string, unknown> = { arguments: next() < 0.3 ? "" : '{"a":' };
      if (next() < 0.4) call.id = `call_${Math.floor(next() * 1000)}`, fn.name = "tool";
      call.function = fn;
      delta.tool_calls = [call];
      break;
    }
    case 5:
      finish = ["stop", "length", "tool_calls", "content_filter"][Math.floor(next() * 4)];
      break;
    case 6:
      usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };
      break;
    default:
      return next() < 0.5 ? "[DONE]" : "{}";
  }
  const chunk: Record<string, unknown> = {
    id: "chatcmpl-p",
    object: "chat.completion.chunk",
    choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }],
  };
  if (usage) chunk.usage = usage;
  return JSON.stringify(chunk);
}

interface Event {
  type: string;
  index?: number;
}

function eventsOf(text: string): Event[] {
  return text.split("\n\n").filter((block) => block !== "").map((block) => {
    const [eventLine, dataLine] = block.split("\n");
    const data = JSON.parse(dataLine.slice("data: ".length));
    assertEquals(eventLine, `event: ${data.type}`, "the event line names the data's type");
    return data;
  });
}

function assertWellFormed(events: Event[], seed: number): void {
  const where = `seed ${seed}`;
  assertEquals(events[0]?.type, "message_start", where);
  assertEquals(events.filter((e) => e.type === "message_start").length, 1, where);
  assertEquals(events.filter((e) => e.type === "message_stop").length, 1, where);
  assertEquals(events.at(-1)?.type, "message_stop", where);
  assertEquals(events.at(-2)?.type, "message_delta", where);
  const open = new Set<number>();
  let nextIndex = 0;
  for (const event of events.slice(0, -2)) {
    switch (event.type) {
      case "content_block_start":
        assertEquals(event.index, nextIndex++, `${where}: blocks start in index order`);
        open.add(event.index!);
        break;
      case "content_block_delta":
        assert(open.has(event.index!), `${where}: a delta goes to an open block`);
        break;
      case "content_block_stop":
        assert(open.delete(event.index!), `${where}: a block stops once, after it started`);
        break;
      default:
        assert(["message_start", "ping"].includes(event.type), `${where}: ${event.type}`);
    }
  }
  assertEquals(open.size, 0, `${where}: every started block is stopped`);
}

Deno.test("any sequence of chat chunks becomes a well-formed Anthropic event sequence", () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const next = random(seed);
    const events = new ChatToMessagesEvents({ model: "m", thinking: next() < 0.5 });
    let text = "";
    const length = Math.floor(next() * 30);
    for (let i = 0; i < length && !events.ended; i++) text += events.push(randomChunk(next));
    text += events.finish();
    assertWellFormed(eventsOf(text), seed);
  }
});
