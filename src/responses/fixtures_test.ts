/**
 * Recorded translations in `testdata/`, written from OpenAI's API reference (the Responses
 * examples for requests, the chat completions examples for answers and streams): each must come
 * out exactly as recorded, the ids the gateway generates compared by placeholder.
 */
import { assertEquals } from "../../tests/assert.ts";
import type { ChatCompletion } from "../core/mod.ts";
import {
  chatSse,
  fixtureNames,
  parseEvents,
  readFixture,
  withPlaceholderIds,
} from "./_test_utils.ts";
import { fromChatCompletion, responseShell } from "./from_chat.ts";
import { responsesRequestSchema } from "./schema.ts";
import { ChatToResponsesStream } from "./stream.ts";
import { toChatRequest } from "./to_chat.ts";

const RESPONSE_ID = `resp_${"0".repeat(40)}`;
const CREATED_AT = 1741476542;

interface Fixture {
  description: string;
  responses: unknown;
  chat: Record<string, unknown>;
  response: unknown;
  chunks: unknown[];
  events: unknown[];
}

for (const name of fixtureNames("request_")) {
  const fixture = await readFixture<Fixture>(name);
  Deno.test(`a Responses request becomes its chat request: ${fixture.description}`, () => {
    const request = responsesRequestSchema.parse(fixture.responses);
    assertEquals(toChatRequest(request), fixture.chat);
  });
}

for (const name of fixtureNames("response_")) {
  const fixture = await readFixture<Fixture>(name);
  Deno.test(`a chat completion becomes its response: ${fixture.description}`, () => {
    const request = responsesRequestSchema.parse(fixture.responses);
    const response = fromChatCompletion(fixture.chat as unknown as ChatCompletion, request, {
      id: RESPONSE_ID,
      createdAt: CREATED_AT,
    });
    assertEquals(withPlaceholderIds(response), fixture.response);
  });
}

for (const name of fixtureNames("stream_")) {
  const fixture = await readFixture<Fixture>(name);
  Deno.test(`a chat stream becomes Responses events: ${fixture.description}`, async () => {
    const request = responsesRequestSchema.parse(fixture.responses);
    const shell = responseShell(request, {
      id: RESPONSE_ID,
      createdAt: CREATED_AT,
      model: request.model,
    });
    const body = new Response(chatSse(fixture.chunks)).body!
      .pipeThrough(new ChatToResponsesStream({ shell }));
    assertEquals(withPlaceholderIds(parseEvents(await new Response(body).text())), fixture.events);
  });
}
