import { assert, assertEquals } from "../../tests/assert.ts";
import { OpenAIProvider } from "./openai.ts";

const call = { signal: new AbortController().signal, traceId: "req-1", upstreamModel: "gpt-4.1" };

function nativeProvider(respond: () => Response) {
  const seen: Request[] = [];
  const provider = new OpenAIProvider({
    baseUrl: "http://upstream.test/v1",
    apiKey: "sk-upstream",
    nativeResponses: true,
    fetch: (input, init) => {
      seen.push(new Request(input, init));
      return Promise.resolve(respond());
    },
  });
  return { provider, seen };
}

const STREAM = [
  'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[]}}\n\n',
  'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}\n\n',
  'event: response.completed\ndata: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_1","status":"completed","usage":{"input_tokens":9,"output_tokens":2,"total_tokens":11}}}\n\n',
].join("");

Deno.test("only an openai deployment set to the Responses API has the capability", () => {
  assertEquals(new OpenAIProvider({ baseUrl: "http://x/v1" }).responses, undefined);
  assert(nativeProvider(() => new Response()).provider.responses);
});

Deno.test("a native Responses call sends the client's body as it is, under the upstream model", async () => {
  const answer = '{"id":"resp_1","object":"response","usage":{"input_tokens":3,"output_tokens":1}}';
  const { provider, seen } = nativeProvider(() =>
    new Response(answer, { headers: { "content-type": "application/json" } })
  );
  const body = { model: "public", input: "hi", tools: [{ type: "web_search" }], store: false };
  const result = await provider.responses!(body, call);
  assertEquals(seen[0].url, "http://upstream.test/v1/responses");
  assertEquals(await seen[0].json(), { ...body, model: "gpt-4.1" });
  assert(result.kind === "json");
  assertEquals(result.text, answer);
});

Deno.test("a native Responses stream passes through byte for byte, its usage read from response.completed", async () => {
  const { provider } = nativeProvider(() =>
    new Response(STREAM, { headers: { "content-type": "text/event-stream" } })
  );
  const result = await provider.responses!({ model: "public", input: "hi", stream: true }, call);
  assert(result.kind === "stream");
  assertEquals(await new Response(result.body).text(), STREAM);
  const outcome = await result.outcome;
  assertEquals(outcome.usage, { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 });
  assertEquals(outcome.producedChars, 5);
});
