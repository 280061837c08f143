import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { handleMockRequest } from "./mock_upstream.ts";
import { measureFirstChunks } from "./stream_client.ts";

const STREAMED = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Hello" }],
  stream: true,
  stream_options: { include_usage: true },
});

Deno.test("the mock upstream streams its answer, with usage only when asked", async () => {
  const ask = (body: unknown) =>
    handleMockRequest(
      new Request("http://127.0.0.1/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify(body),
      }),
    );
  const withUsage = await ask(JSON.parse(STREAMED));
  assertEquals(withUsage.headers.get("content-type"), "text/event-stream");
  const events = (await withUsage.text()).trimEnd().split("\n\n");
  assertEquals(events.length, 4);
  assert(events[2].includes('"usage":{"prompt_tokens":9'));
  assertEquals(events[3], "data: [DONE]");
  const without = await (await ask({ ...JSON.parse(STREAMED), stream_options: null })).text();
  assertEquals(without.includes('"usage"'), false);
  assertEquals((await (await ask({ stream: false })).json()).object, "chat.completion");
});

Deno.test("the stream client reports the first chunk's percentiles of complete streams", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handleMockRequest,
  );
  const url = `http://127.0.0.1:${server.addr.port}/v1/chat/completions`;
  const headers = { "content-type": "application/json" };
  const sample = await measureFirstChunks(url, { headers, body: STREAMED }, 5);
  assertEquals(sample.requests, 5);
  assert(sample.firstChunkP50Ms > 0 && sample.firstChunkP99Ms >= sample.firstChunkP50Ms);
  const notFound = await assertRejects(() =>
    measureFirstChunks(`http://127.0.0.1:${server.addr.port}/none`, { headers, body: "{}" }, 1)
  );
  assertMatch(notFound.message, /answered 404/);
});
