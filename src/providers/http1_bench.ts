/**
 * @module
 * Sequential upstream calls through the global `fetch` and through {@linkcode createHttp1Fetch},
 * against a local JSON server in the same process: `deno bench -P src/providers/http1_bench.ts`.
 * Both sides pay the same server cost, so the difference is the client's.
 */
import { createHttp1Fetch } from "./http1.ts";

const answer = {
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1,
  model: "mock",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
};
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  async (request) => {
    await request.arrayBuffer();
    return Response.json(answer);
  },
);
server.unref(); // lets the bench process exit
const url = `http://127.0.0.1:${server.addr.port}/v1/chat/completions`;
const init = () => ({
  method: "POST",
  headers: {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "authorization": "Bearer sk-bench",
    "x-trace-id": "trace-1",
  },
  body: JSON.stringify({ model: "mock", messages: [{ role: "user", content: "Hi" }] }),
  signal: AbortSignal.timeout(10_000),
});
const http1 = createHttp1Fetch();

Deno.bench("global fetch", { group: "sequential POST, JSON answer", baseline: true }, async () => {
  await (await fetch(url, init())).json();
});

Deno.bench("createHttp1Fetch", { group: "sequential POST, JSON answer" }, async () => {
  await (await http1.fetch(url, init())).json();
});
