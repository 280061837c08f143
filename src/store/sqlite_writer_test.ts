import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { SqliteStore } from "./sqlite.ts";
import { SqliteWriter, usesSqliteWorker } from "./sqlite_writer.ts";
import type { LedgerEntry } from "./types.ts";

// The gateway's own entry module: the worker runs what production runs.
const ENTRY = new URL("../../main.ts", import.meta.url);

async function setUp() {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway_sqlite_writer_" });
  const store = new SqliteStore({ dataDir });
  await store.migrate();
  const tenant = await store.createTenant({ name: "Acme", balanceMicros: 10_000_000 });
  const key = await store.createApiKey({
    tenantId: tenant.id,
    name: "k",
    keyHash: "hash-k",
    prefix: "sk-k",
  });
  const writer = new SqliteWriter({ store, dataDir, entry: ENTRY });
  const entry = (traceId: string, costMicros: number): LedgerEntry => ({
    traceId,
    tenantId: tenant.id,
    apiKeyId: key.id,
    model: "gpt-4o-mini",
    provider: "openai",
    inputTokens: 10,
    outputTokens: 20,
    costMicros,
    estimated: false,
  });
  const cleanUp = async () => {
    await writer.close();
    await store.close();
    await Deno.remove(dataDir, { recursive: true });
  };
  return { store, writer, tenant, key, entry, cleanUp };
}

Deno.test("settlements written by the worker are seen at once by the main thread's store", async () => {
  const { store, writer, tenant, key, entry, cleanUp } = await setUp();
  try {
    await writer.open();
    assertEquals(await writer.settle(entry("trace-1", 1_000)), "settled");
    assertEquals(await writer.settleMany([entry("trace-2", 2_000), entry("trace-1", 1_000)]), [
      "settled",
      "duplicate",
    ]);
    await writer.flushToDisk();
    assertEquals((await store.getTenant(tenant.id))?.balanceMicros, 10_000_000 - 3_000);
    assertEquals((await store.fundsOf(tenant.id, key.id))?.spentMicros, 3_000);
    const rows = await store.listLedger({ tenantId: tenant.id });
    assertEquals(rows.map((row) => row.traceId).sort(), ["trace-1", "trace-2"]);
  } finally {
    await cleanUp();
  }
});

Deno.test("audit records written by the worker are listed by the main thread's store", async () => {
  const { store, writer, tenant, cleanUp } = await setUp();
  try {
    await writer.writeAudit([{
      actor: "admin",
      action: "tenant.update",
      tenantId: tenant.id,
      target: tenant.id,
      traceId: "trace-a",
      details: { name: "Acme" },
    }]);
    const records = await store.listAudit({ tenantId: tenant.id });
    assertEquals(records.map((record) => [record.action, record.details]), [
      ["tenant.update", { name: "Acme" }],
    ]);
  } finally {
    await cleanUp();
  }
});

Deno.test("a write the worker's store refuses rejects with that store's error", async () => {
  const { store, writer, tenant, entry, cleanUp } = await setUp();
  try {
    const error = await assertRejects(() => writer.settle(entry("trace-bad", -5)));
    assertEquals(error.name, "RangeError");
    assertEquals(error.message.includes("costMicros"), true, error.message);
    // The worker is still serving.
    assertEquals(await writer.settle(entry("trace-good", 5)), "settled");
    assertEquals((await store.getTenant(tenant.id))?.balanceMicros, 10_000_000 - 5);
  } finally {
    await cleanUp();
  }
});

Deno.test("close waits for the writes in flight, and later writes are refused", async () => {
  const { store, writer, tenant, entry, cleanUp } = await setUp();
  try {
    const inFlight = writer.settle(entry("trace-last", 7));
    await writer.close();
    assertEquals(await inFlight, "settled");
    assertEquals((await store.getTenant(tenant.id))?.balanceMicros, 10_000_000 - 7);
    const late = await assertRejects(() => writer.settle(entry("trace-late", 1)));
    assertEquals(late.message, "The SQLite writer is closed");
  } finally {
    await cleanUp();
  }
});

Deno.test("a worker that cannot open the file fails open, each time with a new worker", async () => {
  const { writer, cleanUp } = await setUp();
  const blocked = await Deno.makeTempFile({ prefix: "gateway_sqlite_writer_file_" });
  const broken = new SqliteWriter({
    store: { flushToDisk: () => Promise.resolve() },
    dataDir: blocked,
    entry: ENTRY,
  });
  try {
    await assertRejects(() => broken.open());
    await assertRejects(() => broken.open());
  } finally {
    await broken.close();
    await Deno.remove(blocked);
    await writer.close();
    await cleanUp();
  }
});

Deno.test("auto gives the writes a worker only where the process may use more than one CPU", () => {
  assertEquals(usesSqliteWorker("auto", 1), false);
  assertEquals(usesSqliteWorker("auto", 2), true);
  assertEquals(usesSqliteWorker("worker", 1), true);
  assertEquals(usesSqliteWorker("event-loop", 8), false);
});
