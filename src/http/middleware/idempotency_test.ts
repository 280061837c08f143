import { Hono } from "hono";
import { assert, assertEquals } from "../../../tests/assert.ts";
import type { Principal } from "../../auth/mod.ts";
import { badRequest } from "../../core/mod.ts";
import { sqliteIdempotency } from "../../idempotency/_test_utils.ts";
import type { Idempotency } from "../../idempotency/mod.ts";
import type { RequestRecord } from "../../pipeline/mod.ts";
import type { GatewayEnv } from "../context.ts";
import { errorHandler } from "../errors.ts";
import { idempotent } from "./idempotency.ts";

type Answer = (record: RequestRecord, body: string) => Response;

/** The middleware between a stand-in for authentication and a handler counting its calls. */
function appWith(idempotency: Idempotency, answer: Answer, logger = silentLogger()) {
  const app = new Hono<GatewayEnv>();
  const state = { calls: 0, records: [] as RequestRecord[] };
  app.use("*", async (c, next) => {
    const record: RequestRecord = { traceId: crypto.randomUUID(), clientTraceId: false };
    state.records.push(record);
    c.set("record", record);
    const tenantId = c.req.header("x-tenant") ?? "tnt_1";
    c.set("principal", { tenantId, apiKeyId: `key_of_${tenantId}` } as Principal);
    c.set("body", new Uint8Array(await c.req.arrayBuffer()));
    await next();
  });
  app.post("/v1/chat/completions", idempotent(idempotency), (c) => {
    state.calls++;
    const record = c.get("record");
    record.model = "mock-gpt";
    return answer(record, new TextDecoder().decode(c.get("body")));
  });
  app.onError(errorHandler(logger));
  const send = (body: string, headers: Record<string, string> = {}) =>
    app.request("/v1/chat/completions", { method: "POST", body, headers });
  return { app, state, send };
}

function silentLogger() {
  const nothing = () => {};
  return { debug: nothing, info: nothing, warning: nothing, error: nothing, critical: nothing };
}

const json: Answer = (_, body) =>
  new Response(JSON.stringify({ id: `chatcmpl-${crypto.randomUUID()}`, echo: body }), {
    headers: { "content-type": "application/json", "x-ratelimit-remaining-requests": "7" },
  });

function sse(events: string[], outcome: { error?: string } = {}): Answer {
  return (record) => {
    const ended = Promise.withResolvers<void>();
    let index = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (index < events.length) {
          controller.enqueue(new TextEncoder().encode(events[index++]));
          return;
        }
        controller.close();
        record.streamError = outcome.error;
        ended.resolve();
      },
    });
    record.streamDone = ended.promise;
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
}

const KEY = { "idempotency-key": "retry-1" };

Deno.test("without Idempotency-Key every request runs, and nothing is recorded", async () => {
  await using t = await sqliteIdempotency();
  const { state, send } = appWith(t.idempotency, json);
  const [a, b] = [await send("{}"), await send("{}")];
  assertEquals(state.calls, 2);
  assert((await a.json()).id !== (await b.json()).id);
  assertEquals(b.headers.get("idempotent-replayed"), null);
});

Deno.test("a retry gets the first answer's status, headers and body, marked, without running", async () => {
  await using t = await sqliteIdempotency();
  const { state, send } = appWith(t.idempotency, json);
  const first = await send("{}", KEY);
  const firstBody = await first.text();
  const retry = await send("{}", KEY);
  assertEquals(state.calls, 1);
  assertEquals(retry.status, 200);
  assertEquals(await retry.text(), firstBody);
  assertEquals(retry.headers.get("content-type"), "application/json");
  assertEquals(retry.headers.get("x-ratelimit-remaining-requests"), "7");
  assertEquals(retry.headers.get("idempotent-replayed"), "true");
  assertEquals(first.headers.get("idempotent-replayed"), null);
  const replayed = state.records[1];
  assertEquals([replayed.idempotentReplay, replayed.model], [true, "mock-gpt"]);
});

Deno.test("the same key with another body is refused with 422 in OpenAI's error shape", async () => {
  await using t = await sqliteIdempotency();
  const { state, send } = appWith(t.idempotency, json);
  await (await send('{"a":1}', KEY)).text();
  const other = await send('{"a":2}', KEY);
  assertEquals(other.status, 422);
  const { error } = await other.json();
  assertEquals([error.type, error.code], ["invalid_request_error", "idempotency_key_reused"]);
  assertEquals(state.calls, 1);
});

Deno.test("the same key from another tenant runs as a request of its own", async () => {
  await using t = await sqliteIdempotency();
  const { state, send } = appWith(t.idempotency, json);
  const a = await (await send("{}", KEY)).json();
  const b = await (await send("{}", { ...KEY, "x-tenant": "tnt_2" })).json();
  assertEquals(state.calls, 2);
  assert(a.id !== b.id);
});

Deno.test("a stream that ended cleanly is replayed event for event", async () => {
  await using t = await sqliteIdempotency();
  const events = ['data: {"n":1}\n\n', 'data: {"n":2}\n\n', "data: [DONE]\n\n"];
  const { state, send } = appWith(t.idempotency, sse(events));
  const first = await (await send('{"stream":true}', KEY)).text();
  assertEquals(first, events.join(""));
  // The key stays held until the stream's charge settled, just after its last byte: the retry
  // waits for the record rather than running.
  const retry = await send('{"stream":true}', KEY);
  assertEquals(retry.headers.get("idempotent-replayed"), "true");
  assertEquals(retry.headers.get("content-type"), "text/event-stream");
  assertEquals(await retry.text(), events.join(""));
  assertEquals(state.calls, 1);
});

Deno.test("a stream that broke off upstream frees the key: the retry runs afresh", async () => {
  await using t = await sqliteIdempotency();
  const { state, send } = appWith(t.idempotency, sse(["data: 1\n\n"], { error: "timeout" }));
  await (await send("{}", KEY)).text();
  const retry = await send("{}", KEY);
  assertEquals(retry.headers.get("idempotent-replayed"), null);
  await retry.text();
  assertEquals(state.calls, 2, "the retry ran");
});

Deno.test("a refused request frees the key, so its retry runs afresh", async () => {
  await using t = await sqliteIdempotency();
  let refuse = true;
  const { state, send } = appWith(t.idempotency, (record, body) => {
    if (refuse) throw badRequest("refused");
    return json(record, body);
  });
  const refused = await send("{}", KEY);
  assertEquals(refused.status, 400);
  await refused.body?.cancel();
  refuse = false;
  const retry = await send("{}", KEY);
  assertEquals([retry.status, retry.headers.get("idempotent-replayed")], [200, null]);
  await retry.body?.cancel();
  assertEquals(state.calls, 2);
});

Deno.test("a malformed Idempotency-Key is a 400 and the request does not run", async () => {
  await using t = await sqliteIdempotency();
  const { state, send } = appWith(t.idempotency, json);
  const response = await send("{}", { "idempotency-key": "x".repeat(256) });
  assertEquals(response.status, 400);
  assertEquals((await response.json()).error.code, "invalid_idempotency_key");
  assertEquals(state.calls, 0);
});
