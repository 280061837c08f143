// Stored Responses API responses, on SQLite and PostgreSQL alike: kept per tenant, read back as
// saved, deleted by id and by age.
import { assertEquals } from "../../tests/assert.ts";
import { type Case, contractSuite, migrated } from "./_contract.ts";
import type { StoredResponse } from "./types.ts";

function stored(overrides: Partial<StoredResponse> = {}): StoredResponse {
  return {
    tenantId: "tnt_a",
    id: "resp_1",
    previousResponseId: null,
    inputItems: [{
      id: "msg_1",
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: "Hi ✓" }],
    }],
    response: { id: "resp_1", object: "response", output: [], usage: { input_tokens: 3 } },
    createdAt: new Date(1_700_000_000_123),
    ...overrides,
  };
}

const cases: Record<string, Case> = {
  async "a saved response reads back as it was saved, to its own tenant only"(open) {
    const store = await migrated(open);
    await store.saveResponses([stored(), stored({ id: "resp_2", previousResponseId: "resp_1" })]);
    assertEquals(await store.getResponse("tnt_a", "resp_1"), stored());
    assertEquals((await store.getResponse("tnt_a", "resp_2"))?.previousResponseId, "resp_1");
    assertEquals(await store.getResponse("tnt_b", "resp_1"), undefined);
    assertEquals(await store.getResponse("tnt_a", "resp_missing"), undefined);
  },

  async "two tenants may hold the same id apart, and saving again replaces"(open) {
    const store = await migrated(open);
    await store.saveResponses([
      stored(),
      stored({ tenantId: "tnt_b", response: { id: "resp_1", b: true } }),
    ]);
    await store.saveResponses([stored({ response: { id: "resp_1", again: true } })]);
    assertEquals((await store.getResponse("tnt_a", "resp_1"))?.response, {
      id: "resp_1",
      again: true,
    });
    assertEquals((await store.getResponse("tnt_b", "resp_1"))?.response, { id: "resp_1", b: true });
  },

  async "saving nothing does nothing"(open) {
    const store = await migrated(open);
    await store.saveResponses([]);
    assertEquals(await store.getResponse("tnt_a", "resp_1"), undefined);
  },

  async "a response is deleted by its own tenant only"(open) {
    const store = await migrated(open);
    await store.saveResponses([stored()]);
    assertEquals(await store.deleteResponse("tnt_b", "resp_1"), false);
    assertEquals(await store.deleteResponse("tnt_a", "resp_1"), true);
    assertEquals(await store.deleteResponse("tnt_a", "resp_1"), false);
    assertEquals(await store.getResponse("tnt_a", "resp_1"), undefined);
  },

  async "the retention deletes the responses created before its cutoff and keeps the rest"(open) {
    const store = await migrated(open);
    const cutoff = new Date(1_700_000_000_000);
    await store.saveResponses([
      stored({ id: "old", createdAt: new Date(cutoff.getTime() - 1) }),
      stored({ id: "edge", createdAt: cutoff }),
      stored({ id: "new", tenantId: "tnt_b", createdAt: new Date(cutoff.getTime() + 1) }),
    ]);
    assertEquals(await store.deleteResponsesCreatedBefore(cutoff), 1);
    assertEquals(await store.getResponse("tnt_a", "old"), undefined);
    assertEquals((await store.getResponse("tnt_a", "edge"))?.id, "edge");
    assertEquals((await store.getResponse("tnt_b", "new"))?.id, "new");
    assertEquals(await store.deleteResponsesCreatedBefore(cutoff), 0);
  },
};

contractSuite(cases);
