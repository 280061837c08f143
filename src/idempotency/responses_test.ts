import { assert, assertEquals } from "../../tests/assert.ts";
import { recordStream, replayResponse } from "./responses.ts";

const encoder = new TextEncoder();

function source(events: string[], options: { breakAfter?: number } = {}) {
  let index = 0;
  let canceled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (index === options.breakAfter) return controller.error(new Error("reset"));
      if (index < events.length) controller.enqueue(encoder.encode(events[index++]));
      else controller.close();
    },
    cancel() {
      canceled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, canceled: () => canceled };
}

function ends() {
  const calls: Array<Uint8Array | null | undefined> = [];
  return { calls, ended: (body: Uint8Array | null | undefined) => void calls.push(body) };
}

Deno.test("a recorded stream reaches the client unchanged and its bytes are kept once it ends", async () => {
  const events = ["data: 1\n\n", "data: 2\n\n", "data: [DONE]\n\n"];
  const { calls, ended } = ends();
  const text = await new Response(recordStream(source(events).stream, 1000, ended)).text();
  assertEquals(text, events.join(""));
  assertEquals(calls.length, 1);
  assertEquals(new TextDecoder().decode(calls[0]!), events.join(""));
});

Deno.test("each chunk is passed on before the next one is read", async () => {
  const events = ["data: 1\n\n", "data: 2\n\n"];
  const { calls, ended } = ends();
  const reader = recordStream(source(events).stream, 1000, ended).getReader();
  const first = await reader.read();
  assertEquals(new TextDecoder().decode(first.value), "data: 1\n\n");
  assertEquals(calls, [], "nothing is kept before the end");
  await reader.cancel();
});

Deno.test("a stream over the cap still reaches the client whole, but is not kept", async () => {
  const events = ["a".repeat(600), "b".repeat(600)];
  const { calls, ended } = ends();
  const text = await new Response(recordStream(source(events).stream, 1000, ended)).text();
  assertEquals(text.length, 1200);
  assertEquals(calls, [null]);
});

Deno.test("a stream that breaks off or is canceled by the client is not kept", async () => {
  const broken = ends();
  const body = recordStream(source(["x", "y"], { breakAfter: 1 }).stream, 1000, broken.ended);
  const reader = body.getReader();
  await reader.read();
  await reader.read().catch(() => {});
  assertEquals(broken.calls, [undefined]);

  const canceled = ends();
  const upstream = source(["x", "y"]);
  const client = recordStream(upstream.stream, 1000, canceled.ended).getReader();
  await client.read();
  await client.cancel();
  assertEquals(canceled.calls, [undefined]);
  assert(upstream.canceled(), "the cancel reaches the source");
});

Deno.test("a replay carries the recorded status, headers and body, marked as a replay", async () => {
  const response = replayResponse({
    status: 200,
    headers: [["content-type", "application/json"], ["x-ratelimit-remaining-requests", "4"]],
    body: encoder.encode('{"id":"chatcmpl-1"}'),
  });
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("content-type"), "application/json");
  assertEquals(response.headers.get("x-ratelimit-remaining-requests"), "4");
  assertEquals(response.headers.get("idempotent-replayed"), "true");
  assertEquals(await response.text(), '{"id":"chatcmpl-1"}');
});
