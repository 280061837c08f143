/**
 * Recorded translations in `testdata/`, written from Anthropic's and OpenAI's API references:
 * each must come out exactly as recorded.
 */
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  type ChatCompletion,
  HttpError,
  type MessagesRequest,
  messagesRequestSchema,
} from "../core/mod.ts";
import { chatToMessage } from "./from_chat.ts";
import { ChatToMessagesEvents, chatToMessagesStream } from "./stream.ts";
import { messagesToChat } from "./to_chat.ts";

const read = async <T>(name: string): Promise<T> =>
  JSON.parse(await Deno.readTextFile(new URL(`./testdata/${name}`, import.meta.url)));

interface RequestFixtures {
  cases: Array<{ description: string; anthropic: unknown; openai: unknown }>;
  refused: Array<{ description: string; anthropic: unknown; param: string }>;
}

interface Translation {
  model: string;
  thinking: boolean;
  stopSequences?: string[];
}

interface AnswerFixtures {
  cases: Array<{
    description: string;
    request: Translation & { stop_sequences?: string[] };
    openai: ChatCompletion;
    anthropic: unknown;
  }>;
}

interface StreamFixtures {
  cases: Array<{
    description: string;
    request: Translation;
    openai: unknown[];
    anthropic: Array<{ event: string; data: unknown }>;
  }>;
}

const requests = await read<RequestFixtures>("requests.json");
const answers = await read<AnswerFixtures>("answers.json");
const streams = await read<StreamFixtures>("streams.json");

const parse = (body: unknown): MessagesRequest => messagesRequestSchema.parse(body);

for (const fixture of requests.cases) {
  Deno.test(`Messages request to chat: ${fixture.description}`, () => {
    assertEquals(messagesToChat(parse(fixture.anthropic)), fixture.openai);
  });
}

for (const fixture of requests.refused) {
  Deno.test(`Messages request to chat refused with a 400: ${fixture.description}`, () => {
    const error = assertThrows(() => messagesToChat(parse(fixture.anthropic)));
    assert(error instanceof HttpError);
    assertEquals([error.status, error.type, error.param], [
      400,
      "invalid_request_error",
      fixture.param,
    ]);
  });
}

for (const fixture of answers.cases) {
  Deno.test(`chat answer to Messages: ${fixture.description}`, () => {
    const { model, thinking, stop_sequences } = fixture.request;
    const answer = chatToMessage(fixture.openai, {
      model,
      thinking,
      stopSequences: stop_sequences,
    });
    assertEquals(answer, fixture.anthropic);
  });
}

/** The SSE text of an upstream's chunks, as the chat relay forwards them. */
function sseOf(chunks: unknown[]): string {
  return chunks.map((chunk) =>
    `data: ${typeof chunk === "string" ? chunk : JSON.stringify(chunk)}\n\n`
  )
    .join("");
}

/** The client's events, parsed back from the translated stream's bytes. */
function eventsOf(text: string): Array<{ event: string; data: unknown }> {
  return text.split("\n\n").filter((block) => block !== "").map((block) => {
    const [eventLine, dataLine] = block.split("\n");
    return { event: eventLine.slice("event: ".length), data: JSON.parse(dataLine.slice(6)) };
  });
}

async function translateBytes(
  text: string,
  options: Translation,
  pieceSize: number,
): Promise<string> {
  const bytes = new TextEncoder().encode(text);
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += pieceSize) pieces.push(bytes.slice(at, at + pieceSize));
  const source = ReadableStream.from(pieces);
  return await new Response(source.pipeThrough(chatToMessagesStream(options))).text();
}

for (const fixture of streams.cases) {
  Deno.test(`chat stream to Messages events: ${fixture.description}`, async () => {
    const text = sseOf(fixture.openai);
    // Whole, and cut anywhere (mid-event, mid-character): the events are the same.
    for (const pieceSize of [text.length, 7, 1]) {
      const translated = await translateBytes(text, fixture.request, pieceSize);
      assertEquals(eventsOf(translated), fixture.anthropic, `in pieces of ${pieceSize}`);
    }
  });
}

Deno.test("chat stream to Messages events: each event goes out as soon as its chunk arrives", () => {
  const events = new ChatToMessagesEvents({ model: "m", thinking: false });
  const first = events.push(JSON.stringify({
    id: "c",
    choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }],
  }));
  assertEquals(eventsOf(first).map((e) => e.event), [
    "message_start",
    "ping",
    "content_block_start",
    "content_block_delta",
  ]);
});
