import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import type { Principal } from "../auth/mod.ts";
import { type ChatCompletionRequest, HttpError } from "../core/mod.ts";
import type { PipelineContext } from "../pipeline/mod.ts";
import { MockProvider, type ProviderOperation } from "../providers/mod.ts";
import type { StoredResponse } from "../store/mod.ts";
import { responsesRequestSchema } from "./schema.ts";
import { ResponsesService, type ResponseStore } from "./service.ts";

/** The store's responses in memory, keyed by tenant and id as the real ones are. */
function memoryStore(): ResponseStore & { rows: Map<string, StoredResponse> } {
  const rows = new Map<string, StoredResponse>();
  const key = (tenantId: string, id: string) => `${tenantId}/${id}`;
  return {
    rows,
    saveResponses: (responses) => {
      for (const response of responses) {
        rows.set(key(response.tenantId, response.id), structuredClone(response));
      }
      return Promise.resolve();
    },
    getResponse: (tenantId, id) => Promise.resolve(rows.get(key(tenantId, id))),
    deleteResponse: (tenantId, id) => Promise.resolve(rows.delete(key(tenantId, id))),
  };
}

/** A pipeline that runs the operation on the mock provider and keeps the chat requests it saw. */
function mockPipeline() {
  const estimated: ChatCompletionRequest[] = [];
  const provider = new MockProvider({ models: ["gpt-4o"] });
  return {
    estimated,
    async chatEquivalent<Body>(
      operation: ProviderOperation<Body>,
      chat: ChatCompletionRequest,
    ): Promise<Response> {
      estimated.push(chat);
      const call = { signal: new AbortController().signal, traceId: "t", upstreamModel: "gpt-4o" };
      const result = await operation.invoke(provider, call);
      return result.kind === "json" ? Response.json(result.body) : new Response(result.body);
    },
  };
}

function context(tenantId: string): PipelineContext {
  return {
    principal: { tenantId, apiKeyId: `key_${tenantId}` } as Principal,
    record: { traceId: "t", clientTraceId: false },
    clientSignal: new AbortController().signal,
  };
}

async function create(service: ResponsesService, tenantId: string, body: Record<string, unknown>) {
  const request = responsesRequestSchema.parse({ model: "gpt-4o", ...body });
  const answer = await service.create(request, body, context(tenantId));
  return await answer.text();
}

Deno.test("previous_response_id gives the upstream the whole conversation, counted in the estimate", async () => {
  const pipeline = mockPipeline();
  const service = new ResponsesService({ pipeline, store: memoryStore() });
  const first = JSON.parse(
    await create(service, "tnt_a", { input: "Hello", instructions: "Be brief." }),
  );
  const second = JSON.parse(
    await create(service, "tnt_a", { input: "And then?", previous_response_id: first.id }),
  );
  await create(service, "tnt_a", { input: "Last", previous_response_id: second.id });
  const roles = pipeline.estimated[2].messages.map((message) => message.role);
  // The first turn's instructions are not carried over, as OpenAI does.
  assertEquals(roles, ["user", "assistant", "user", "assistant", "user"]);
  assert(pipeline.estimated[2].messages.length > pipeline.estimated[0].messages.length);
});

Deno.test("another tenant's response is not found, by any route", async () => {
  const service = new ResponsesService({ pipeline: mockPipeline(), store: memoryStore() });
  const { id } = JSON.parse(await create(service, "tnt_a", { input: "Hello" }));
  const notFound = async (fn: () => Promise<unknown>, param?: string) => {
    const error = await assertRejects(fn);
    assert(error instanceof HttpError);
    assertEquals([error.status, error.code, error.param], [
      404,
      "response_not_found",
      param ?? null,
    ]);
  };
  await notFound(() => service.retrieve("tnt_b", id));
  await notFound(() => service.inputItems("tnt_b", id, { limit: 20, order: "desc" }));
  await notFound(() => service.delete("tnt_b", id));
  await notFound(
    () => create(service, "tnt_b", { input: "hi", previous_response_id: id }),
    "previous_response_id",
  );
  assertEquals((await service.retrieve("tnt_a", id)).id, id);
});

Deno.test("store false keeps nothing; a streamed response is stored before its last event", async () => {
  const store = memoryStore();
  const service = new ResponsesService({ pipeline: mockPipeline(), store });
  await create(service, "tnt_a", { input: "Hello", store: false });
  assertEquals(store.rows.size, 0);
  const events = await create(service, "tnt_a", { input: "Hello", stream: true });
  assertEquals(store.rows.size, 1);
  const [stored] = store.rows.values();
  assert(events.includes(`"id":"${stored.id}"`));
  assertEquals(stored.response.status, "completed");
});

Deno.test("input items list with ids, newest first by default, paged by after", async () => {
  const service = new ResponsesService({ pipeline: mockPipeline(), store: memoryStore() });
  const input = [
    { role: "user", content: "one" },
    { role: "user", content: [{ type: "input_text", text: "two" }] },
    { role: "user", content: "three" },
  ];
  const { id } = JSON.parse(await create(service, "tnt_a", { input }));
  const page = await service.inputItems("tnt_a", id, { limit: 2, order: "desc" });
  const texts = (items: typeof page.data) =>
    items.map((item) => (item.content as Array<{ text: string }>)[0].text);
  assertEquals(texts(page.data), ["three", "two"]);
  assertEquals(page.has_more, true);
  assert(page.data.every((item) => typeof item.id === "string" && item.id.startsWith("msg_")));
  const rest = await service.inputItems("tnt_a", id, {
    limit: 2,
    order: "desc",
    after: page.last_id!,
  });
  assertEquals([texts(rest.data), rest.has_more], [["one"], false]);
  const ascending = await service.inputItems("tnt_a", id, { limit: 20, order: "asc" });
  assertEquals(texts(ascending.data), ["one", "two", "three"]);
});

Deno.test("answered before saved, a response is still found by the next read, which waits", async () => {
  const store = memoryStore();
  const gate = Promise.withResolvers<void>();
  const save = store.saveResponses;
  store.saveResponses = async (responses) => {
    await gate.promise;
    await save(responses);
  };
  const service = new ResponsesService({
    pipeline: mockPipeline(),
    store,
    answerBeforeSaved: true,
  });
  const { id } = JSON.parse(await create(service, "tnt_a", { input: "Hello" }));
  assertEquals(store.rows.size, 0, "the answer went out before the save");
  const retrieved = service.retrieve("tnt_a", id);
  const next = create(service, "tnt_a", { input: "Again", previous_response_id: id });
  gate.resolve();
  assertEquals((await retrieved).id, id);
  assert(JSON.parse(await next).id !== id);
});
