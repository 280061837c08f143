// The store's side of idempotency keys beyond the shared records suite
// (src/idempotency/records_contract_test.ts): the sweep, on SQLite and PostgreSQL alike.
import { assertEquals } from "../../tests/assert.ts";
import { type Case, contractSuite, migrated } from "./_contract.ts";
import type { IdempotencyHold, Store } from "./types.ts";

const ref = (key: string): IdempotencyHold => ({
  tenantId: "tnt_a",
  apiKeyId: "key_a",
  key,
  token: `token-${key}`,
});

async function claimAt(store: Store, hold: IdempotencyHold, now: number, leaseMs: number) {
  return await store.claimIdempotencyKey({
    ...hold,
    fingerprint: "fp",
    now: new Date(now),
    leaseExpiresAt: new Date(now + leaseMs),
  });
}

const cases: Record<string, Case> = {
  async "the sweep deletes expired records and lapsed holds, and keeps the rest"(open, _, query) {
    const store = await migrated(open);
    const now = Date.now();
    await claimAt(store, ref("lapsed"), now - 10_000, 1000);
    await claimAt(store, ref("running"), now, 60_000);
    await claimAt(store, ref("old"), now - 10_000, 1000);
    await store.completeIdempotencyKey({
      ...ref("old"),
      answer: new Uint8Array([1]),
      expiresAt: new Date(now - 1),
    });
    await claimAt(store, ref("kept"), now, 60_000);
    await store.completeIdempotencyKey({
      ...ref("kept"),
      answer: new Uint8Array([2]),
      expiresAt: new Date(now + 60_000),
    });
    assertEquals(await store.deleteExpiredIdempotencyKeys(new Date(now)), 2);
    const rows = await query("SELECT idempotency_key FROM idempotency_keys ORDER BY 1");
    assertEquals(rows.map((row) => row.idempotency_key), ["kept", "running"]);
    assertEquals(await store.deleteExpiredIdempotencyKeys(new Date(now)), 0);
  },

  async "a claim at a time past a record's expiry takes the key over"(open) {
    const store = await migrated(open);
    const now = Date.now();
    await claimAt(store, ref("k"), now, 60_000);
    await store.completeIdempotencyKey({
      ...ref("k"),
      answer: null,
      expiresAt: new Date(now + 1000),
    });
    const later = { ...ref("k"), token: "token-later" };
    assertEquals(await claimAt(store, later, now + 500, 60_000), { outcome: "done", answer: null });
    assertEquals(await claimAt(store, later, now + 1000, 60_000), { outcome: "claimed" });
  },
};

contractSuite(cases);
