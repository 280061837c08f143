// Money in the store, run against SQLite and PostgreSQL: reserve, settle, release, the sweeper and
// the ledger. Whatever the interleaving, `balance − reserved ≥ −margin` for a tenant,
// `spent + reserved ≤ budget + margin` for a key, and the balance equals the starting balance plus
// credits minus the ledger's costs.
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import type { ApiKey, LedgerEntry, ReservationInput, Store, Tenant } from "./types.ts";
import { type Case, contractSuite, migrated, type Query, rejectsWith, sleep } from "./_contract.ts";

const HOUR = 3_600_000;

interface Account {
  tenant: Tenant;
  key: ApiKey;
}

let traces = 0;
const nextTrace = () => `trace-${++traces}-${crypto.randomUUID().slice(0, 8)}`;

async function account(
  store: Store,
  options: { balanceMicros: number; budgetMicros?: number | null; name?: string },
): Promise<Account> {
  const name = options.name ?? "acme";
  const tenant = await store.createTenant({ name, balanceMicros: options.balanceMicros });
  const key = await store.createApiKey({
    tenantId: tenant.id,
    name,
    keyHash: `hash-${name}-${crypto.randomUUID()}`,
    prefix: "sk-x",
    budgetMicros: options.budgetMicros ?? null,
  });
  return { tenant, key };
}

function reservation(
  { tenant, key }: Account,
  amountMicros: number,
  overrides: Partial<ReservationInput> = {},
): ReservationInput {
  return {
    traceId: nextTrace(),
    tenantId: tenant.id,
    apiKeyId: key.id,
    amountMicros,
    marginMicros: 0,
    expiresAt: new Date(Date.now() + HOUR),
    ...overrides,
  };
}

const NO_CACHE = { cacheReadTokens: 0, cacheWriteTokens: 0 };

function entry(
  { tenant, key }: Account,
  traceId: string,
  costMicros: number,
  overrides: Partial<LedgerEntry> = {},
): LedgerEntry {
  return {
    traceId,
    tenantId: tenant.id,
    apiKeyId: key.id,
    model: "gpt-4o-mini",
    provider: "openai",
    inputTokens: 10,
    outputTokens: 20,
    costMicros,
    estimated: false,
    ...overrides,
  };
}

/** The tenant's and the key's money as stored now. */
async function money(store: Store, { tenant, key }: Account) {
  const [t, keys] = await Promise.all([store.getTenant(tenant.id), store.listApiKeys(tenant.id)]);
  const k = keys.find((candidate) => candidate.id === key.id);
  assert(t !== undefined && k !== undefined, "tenant and key exist");
  return {
    balance: t.balanceMicros,
    tenantReserved: t.reservedMicros,
    spent: k.spentMicros,
    keyReserved: k.reservedMicros,
  };
}

const oks = (results: { ok: boolean }[]) => results.filter((result) => result.ok).length;

// Sums as text, so both dialects answer alike and PostgreSQL's numeric sums stay exact.
async function sumOf(query: Query, sql: string): Promise<number> {
  const [row] = await query(sql);
  return Number(row.total ?? 0);
}

const cases: Record<string, Case> = {
  async "100 concurrent reservations against ten reservations' worth: exactly ten succeed"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 10_000_000 });
    const results = await Promise.all(
      Array.from({ length: 100 }, () => store.reserve(reservation(acme, 1_000_000))),
    );
    assertEquals(oks(results), 10);
    assert(
      results.every((result) => result.ok || result.reason === "tenant_balance"),
      "every refusal names the tenant's balance",
    );
    assertEquals(await money(store, acme), {
      balance: 10_000_000,
      tenantReserved: 10_000_000,
      spent: 0,
      keyReserved: 10_000_000,
    });
  },

  async "a batch of reservations is judged item by item in its order"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 2_000_000, name: "acme" });
    const other = await account(store, { balanceMicros: 5_000_000, name: "other" });
    const items = [
      reservation(acme, 1_000_000),
      reservation(other, 1_000_000),
      reservation(acme, 1_000_000),
      reservation(acme, 1_000_000),
    ];
    const results = await store.reserveMany(items);
    assertEquals(results, [
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: false, reason: "tenant_balance" },
    ]);
    assertEquals((await money(store, acme)).tenantReserved, 2_000_000);
    assertEquals((await money(store, other)).tenantReserved, 1_000_000);
    assertEquals(
      await store.reserveMany([items[0]]),
      [{ ok: false, reason: "duplicate" }],
      "a trace id reserved already",
    );
    assertEquals((await money(store, acme)).tenantReserved, 2_000_000);
  },

  async "concurrent batches of reservations still hold no more than the balance"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 10_000_000 });
    const batches = await Promise.all(
      Array.from(
        { length: 10 },
        () => store.reserveMany(Array.from({ length: 10 }, () => reservation(acme, 1_000_000))),
      ),
    );
    assertEquals(oks(batches.flat()), 10);
    assertEquals((await money(store, acme)).tenantReserved, 10_000_000);
  },

  async "a batch with an unknown tenant fails, and its items can then go singly"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 5_000_000 });
    const good = reservation(acme, 1_000_000);
    const bad = reservation(acme, 1_000_000, { tenantId: "tnt_missing" });
    await assertRejects(() => store.reserveMany([good, bad]));
    assertEquals(await store.reserve(good), { ok: true });
    assertEquals((await money(store, acme)).tenantReserved, 1_000_000);
  },

  async "a batch of settlements charges each request once"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 10_000_000 });
    const held = [reservation(acme, 2_000_000), reservation(acme, 2_000_000)];
    await store.reserveMany(held);
    const entries = [
      entry(acme, held[0].traceId, 1_500_000),
      entry(acme, held[1].traceId, 500_000),
    ];
    assertEquals(await store.settleMany(entries), ["settled", "settled"]);
    assertEquals(await store.settleMany(entries), ["duplicate", "duplicate"]);
    assertEquals(await money(store, acme), {
      balance: 8_000_000,
      tenantReserved: 0,
      spent: 2_000_000,
      keyReserved: 0,
    });
  },

  async "two instances settling one batch in opposite orders at once charge each request once"(
    open,
  ) {
    // A job handed out again while its first worker still runs it: its batch can repeat another
    // batch's requests in another order. Neither may wait for the other forever.
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, { balanceMicros: 1_000_000_000 });
    const entries = Array.from({ length: 400 }, () => entry(acme, nextTrace(), 1_000));
    const [forward, backward] = await Promise.all([
      a.settleMany(entries),
      b.settleMany(entries.toReversed()),
    ]);
    entries.forEach((_, i) => {
      const outcomes = [forward[i], backward[entries.length - 1 - i]];
      assertEquals(outcomes.toSorted(), ["duplicate", "settled"]);
    });
    assertEquals((await money(a, acme)).balance, 1_000_000_000 - entries.length * 1_000);
  },

  async "a batch repeating a request and spanning tenants charges each request once"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 10_000_000, budgetMicros: 5_000_000 });
    const globex = await account(store, { balanceMicros: 10_000_000, name: "globex" });
    const held = [reservation(acme, 2_000_000), reservation(globex, 3_000_000)];
    await store.reserveMany(held);
    const first = entry(acme, held[0].traceId, 1_500_000);
    const unreserved = entry(acme, nextTrace(), 250_000);
    const other = entry(globex, held[1].traceId, 1_000_000);
    assertEquals(
      await store.settleMany([first, other, first, unreserved]),
      ["settled", "settled", "duplicate", "settled"],
    );
    assertEquals(await money(store, acme), {
      balance: 8_250_000,
      tenantReserved: 0,
      spent: 1_750_000,
      keyReserved: 0,
    });
    assertEquals(await money(store, globex), {
      balance: 9_000_000,
      tenantReserved: 0,
      spent: 1_000_000,
      keyReserved: 0,
    });
  },

  async "a batch settling a reservation under another key fails as a whole"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 10_000_000 });
    const globex = await account(store, { balanceMicros: 10_000_000, name: "globex" });
    const held = reservation(acme, 2_000_000);
    await store.reserve(held);
    const good = entry(globex, nextTrace(), 1_000_000);
    const stolen = entry(globex, held.traceId, 1_000_000);
    await assertRejects(() => store.settleMany([good, stolen]));
    assertEquals((await money(store, globex)).balance, 10_000_000);
    assertEquals(await store.settle(good), "settled");
    assertEquals((await money(store, globex)).balance, 9_000_000);
    assertEquals((await money(store, acme)).tenantReserved, 2_000_000);
  },

  async "a batch naming a key with another tenant fails as a whole"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 10_000_000 });
    const globex = await account(store, { balanceMicros: 10_000_000, name: "globex" });
    const good = entry(acme, nextTrace(), 1_000_000);
    const crossed = entry(globex, nextTrace(), 1_000_000, { apiKeyId: acme.key.id });
    await assertRejects(() => store.settleMany([good, crossed]));
    assertEquals((await money(store, acme)).balance, 10_000_000);
    assertEquals((await money(store, globex)).balance, 10_000_000);
    assertEquals(await store.settle(good), "settled");
    await assertRejects(() => store.settle(crossed));
    assertEquals((await money(store, acme)).spent, 1_000_000);
  },

  async "two instances reserving at once still hold no more than the balance"(open) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, { balanceMicros: 10_000_000 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).reserve(reservation(acme, 1_000_000))),
    );
    assertEquals(oks(results), 10);
    assertEquals((await money(b, acme)).tenantReserved, 10_000_000);
  },

  async "a key's budget holds under 100 concurrent reservations from two instances"(open) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, { balanceMicros: 1_000_000_000, budgetMicros: 10_000_000 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).reserve(reservation(acme, 1_000_000))),
    );
    assertEquals(oks(results), 10);
    assert(
      results.every((result) => result.ok || result.reason === "key_budget"),
      "every refusal names the key's budget",
    );
    // A refused key rolls back the tenant's part of the reservation too.
    assertEquals(await money(a, acme), {
      balance: 1_000_000_000,
      tenantReserved: 10_000_000,
      spent: 0,
      keyReserved: 10_000_000,
    });
  },

  async "the margin lets a reservation go that far below zero and no further"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 1_000, budgetMicros: 1_000 });
    const margin = { marginMicros: 500 };
    assertEquals(await store.reserve(reservation(acme, 1_500, margin)), { ok: true });
    assertEquals(await store.reserve(reservation(acme, 1, margin)), {
      ok: false,
      reason: "tenant_balance",
    });
    await store.addCredits(acme.tenant.id, 10_000);
    assertEquals(await store.reserve(reservation(acme, 1, margin)), {
      ok: false,
      reason: "key_budget",
    });
    assertEquals(await store.reserve(reservation(acme, 1, { marginMicros: 501 })), { ok: true });
    const unlimited = await account(store, { balanceMicros: 0, name: "broke" });
    assertEquals(await store.reserve(reservation(unlimited, 1)), {
      ok: false,
      reason: "tenant_balance",
    });
  },

  async "a trace id already reserved or settled is refused as a duplicate"(open) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, { balanceMicros: 10_000_000 });
    const input = reservation(acme, 3_000_000);
    const results = await Promise.all([a.reserve(input), b.reserve(input), a.reserve(input)]);
    assertEquals(results.filter((result) => result.ok).length, 1);
    assertEquals(
      results.filter((result) => !result.ok && result.reason === "duplicate").length,
      2,
    );
    assertEquals((await money(a, acme)).tenantReserved, 3_000_000);
    assertEquals(await a.settle(entry(acme, input.traceId, 2_000_000)), "settled");
    // Another request under a settled trace id would otherwise ride free on that ledger row.
    assertEquals(await a.reserve(input), { ok: false, reason: "duplicate" });
    assertEquals(await money(a, acme), {
      balance: 8_000_000,
      tenantReserved: 0,
      spent: 2_000_000,
      keyReserved: 0,
    });
    // A refused or released trace id is free again: a client may retry a failed request with it.
    const retried = reservation(acme, 1_000_000);
    await a.reserve(retried);
    await a.release(retried.traceId);
    assertEquals(await b.reserve(retried), { ok: true });
  },

  async "settling charges the tenant and the key, releases the reservation and writes one row"(
    open,
  ) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 10_000_000, budgetMicros: 5_000_000 });
    const input = reservation(acme, 2_000_000);
    assertEquals(await store.reserve(input), { ok: true });
    assertEquals(await money(store, acme), {
      balance: 10_000_000,
      tenantReserved: 2_000_000,
      spent: 0,
      keyReserved: 2_000_000,
    });
    const before = Date.now();
    const settled = entry(acme, input.traceId, 1_234_567, { estimated: true, inputTokens: 7 });
    assertEquals(await store.settle(settled), "settled");
    assertEquals(await money(store, acme), {
      balance: 10_000_000 - 1_234_567,
      tenantReserved: 0,
      spent: 1_234_567,
      keyReserved: 0,
    });
    const rows = await store.listLedger({ tenantId: acme.tenant.id });
    assertEquals(rows.length, 1);
    const [row] = rows;
    assertEquals({ ...row, id: 0, createdAt: new Date(0) }, {
      ...NO_CACHE,
      ...settled,
      id: 0,
      createdAt: new Date(0),
    });
    assert(Number.isSafeInteger(row.id), "ids are numbers");
    assert(row.createdAt.getTime() >= before - 1000, "createdAt is recent");
    // Released: the whole balance can be reserved again.
    const rest = 10_000_000 - 1_234_567;
    assertEquals(await store.reserve(reservation(acme, rest, { apiKeyId: acme.key.id })), {
      ok: false,
      reason: "key_budget",
    });
    const other = await store.createApiKey({
      tenantId: acme.tenant.id,
      name: "other",
      keyHash: "hash-other",
      prefix: "sk-o",
    });
    assertEquals(await store.reserve(reservation(acme, rest, { apiKeyId: other.id })), {
      ok: true,
    });
  },

  async "settling the same trace id twice charges once"(open) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, { balanceMicros: 10_000_000 });
    const input = reservation(acme, 1_000_000);
    await a.reserve(input);
    const settled = entry(acme, input.traceId, 900_000);
    const outcomes = await Promise.all([a.settle(settled), b.settle(settled), a.settle(settled)]);
    assertEquals(outcomes.toSorted(), ["duplicate", "duplicate", "settled"]);
    assertEquals(await b.settle({ ...settled, costMicros: 5 }), "duplicate");
    assertEquals(await money(a, acme), {
      balance: 9_100_000,
      tenantReserved: 0,
      spent: 900_000,
      keyReserved: 0,
    });
    assertEquals((await a.listLedger({ traceId: input.traceId })).length, 1);
  },

  async "settledTraceIds names the trace ids that have a ledger row"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 1_000_000 });
    const [settled, open1, unknown] = [nextTrace(), nextTrace(), nextTrace()];
    await store.reserve(reservation(acme, 10, { traceId: open1 }));
    assertEquals(await store.settle(entry(acme, settled, 5)), "settled");
    assertEquals(await store.settledTraceIds([unknown, settled, open1]), [settled]);
    assertEquals(await store.settledTraceIds([]), []);
  },

  async "fundsOf reads the balance, the key's budget and both reservations at once"(open) {
    const store = await migrated(open);
    const billion = 1_000_000_000_000_000;
    const acme = await account(store, { balanceMicros: billion, budgetMicros: 5_000 });
    const other = await account(store, { balanceMicros: 7, name: "other" });
    await store.reserve(reservation(acme, 300));
    assertEquals(await store.settle(entry(acme, nextTrace(), 200)), "settled");
    assertEquals(await store.fundsOf(acme.tenant.id, acme.key.id), {
      balanceMicros: billion - 200,
      reservedMicros: 300,
      tenantBudgetMicros: null,
      tenantBudgetPeriod: null,
      tenantSpentMicros: 200,
      budgetMicros: 5_000,
      budgetPeriod: null,
      spentMicros: 200,
      keyReservedMicros: 300,
    });
    assertEquals(await store.fundsOf(other.tenant.id, other.key.id), {
      balanceMicros: 7,
      reservedMicros: 0,
      tenantBudgetMicros: null,
      tenantBudgetPeriod: null,
      tenantSpentMicros: 0,
      budgetMicros: null,
      budgetPeriod: null,
      spentMicros: 0,
      keyReservedMicros: 0,
    });
    assertEquals(await store.fundsOf(acme.tenant.id, other.key.id), undefined);
    assertEquals(await store.fundsOf("no-such-tenant", acme.key.id), undefined);
  },

  async "writes committed before flushToDisk are there for another instance after it"(open) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, { balanceMicros: 1_000_000 });
    const input = reservation(acme, 300_000);
    assertEquals(await a.reserve(input), { ok: true });
    assertEquals(await a.settle(entry(acme, input.traceId, 250_000)), "settled");
    // Concurrent callers share syncs; every one of them resolves.
    await Promise.all(Array.from({ length: 5 }, () => a.flushToDisk()));
    assertEquals(await money(b, acme), {
      balance: 750_000,
      tenantReserved: 0,
      spent: 250_000,
      keyReserved: 0,
    });
    await b.flushToDisk();
  },

  async "a request settled without a reservation is still charged"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 1_000 });
    assertEquals(await store.settle(entry(acme, "no-reservation", 400)), "settled");
    assertEquals(await money(store, acme), {
      balance: 600,
      tenantReserved: 0,
      spent: 400,
      keyReserved: 0,
    });
    // A request that cost more than it reserved is charged in full, below zero if need be.
    const input = reservation(acme, 600);
    assertEquals(await store.reserve(input), { ok: true });
    assertEquals(await store.settle(entry(acme, input.traceId, 1_000)), "settled");
    assertEquals(await money(store, acme), {
      balance: -400,
      tenantReserved: 0,
      spent: 1_400,
      keyReserved: 0,
    });
    assertEquals(await store.reserve(reservation(acme, 1)), {
      ok: false,
      reason: "tenant_balance",
    });
  },

  async "releasing a reservation makes its money available again"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 1_000_000, budgetMicros: 1_000_000 });
    const first = reservation(acme, 1_000_000);
    assertEquals(await store.reserve(first), { ok: true });
    assertEquals((await store.reserve(reservation(acme, 1))).ok, false);
    await store.release(first.traceId);
    await store.release(first.traceId);
    await store.release("never-reserved");
    assertEquals(await money(store, acme), {
      balance: 1_000_000,
      tenantReserved: 0,
      spent: 0,
      keyReserved: 0,
    });
    assertEquals(await store.reserve(reservation(acme, 1_000_000)), { ok: true });
    assertEquals(await store.listLedger({ tenantId: acme.tenant.id }), []);
  },

  async "expired reservations are released by the sweeper, open ones are kept"(open) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, { balanceMicros: 10_000_000, budgetMicros: 8_000_000 });
    const other = await account(a, { balanceMicros: 5_000_000, name: "other" });
    const now = Date.now();
    const at = (offset: number) => ({ expiresAt: new Date(now + offset) });
    await a.reserve(reservation(acme, 3_000_000, at(-2_000)));
    await a.reserve(reservation(acme, 2_000_000, at(-1_000)));
    const kept = reservation(acme, 1_000_000, at(HOUR));
    await a.reserve(kept);
    await a.reserve(reservation(other, 5_000_000, at(-1)));
    assertEquals((await a.reserve(reservation(other, 1))).ok, false);
    const swept = await Promise.all([
      a.releaseExpiredReservations(new Date(now)),
      b.releaseExpiredReservations(new Date(now)),
    ]);
    assertEquals(swept[0] + swept[1], 3, "each expired reservation is released once");
    assertEquals(await a.releaseExpiredReservations(new Date(now)), 0);
    assertEquals(await money(a, acme), {
      balance: 10_000_000,
      tenantReserved: 1_000_000,
      spent: 0,
      keyReserved: 1_000_000,
    });
    assertEquals((await money(a, other)).tenantReserved, 0);
    assertEquals(await a.reserve(reservation(other, 5_000_000)), { ok: true });
    assertEquals(await a.settle(entry(acme, kept.traceId, 10)), "settled");
    assertEquals((await money(a, acme)).tenantReserved, 0);
  },

  async "usage totals add up the ledger of one tenant over a half-open range"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 1_000_000 });
    const other = await account(store, { balanceMicros: 1_000_000, name: "other" });
    const empty = { requests: 0, inputTokens: 0, outputTokens: 0, ...NO_CACHE, costMicros: 0 };
    assertEquals(await store.usageTotals(acme.tenant.id, {}), empty);
    await store.settle(entry(acme, "u1", 100, { inputTokens: 1, outputTokens: 2 }));
    await sleep(20);
    await store.settle(entry(acme, "u2", 200, { inputTokens: 10, outputTokens: 20 }));
    await store.settle(entry(other, "u3", 999, { inputTokens: 9, outputTokens: 9 }));
    await sleep(20);
    await store.settle(entry(acme, "u4", 400, { inputTokens: 100, outputTokens: 200 }));
    const [u4, u2, u1] = await store.listLedger({ tenantId: acme.tenant.id });
    assertEquals([u4.traceId, u2.traceId, u1.traceId], ["u4", "u2", "u1"]);
    assertEquals(await store.usageTotals(acme.tenant.id, {}), {
      requests: 3,
      inputTokens: 111,
      outputTokens: 222,
      ...NO_CACHE,
      costMicros: 700,
    });
    assertEquals(await store.usageTotals(acme.tenant.id, { since: u2.createdAt }), {
      requests: 2,
      inputTokens: 110,
      outputTokens: 220,
      ...NO_CACHE,
      costMicros: 600,
    });
    assertEquals(await store.usageTotals(acme.tenant.id, { until: u2.createdAt }), {
      requests: 1,
      inputTokens: 1,
      outputTokens: 2,
      ...NO_CACHE,
      costMicros: 100,
    });
    assertEquals(
      await store.usageTotals(acme.tenant.id, { since: u2.createdAt, until: u4.createdAt }),
      { requests: 1, inputTokens: 10, outputTokens: 20, ...NO_CACHE, costMicros: 200 },
    );
    assertEquals(
      await store.usageTotals(acme.tenant.id, { since: new Date(u4.createdAt.getTime() + 1) }),
      empty,
    );
    assertEquals(await store.usageTotals("tnt_missing", {}), empty);
  },

  async "prompt cache tokens land in the ledger as parts of the input and add up in the usage"(
    open,
  ) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 1_000_000 });
    const cached = { inputTokens: 2300, cacheReadTokens: 2000, cacheWriteTokens: 250 };
    await store.settle(entry(acme, "c1", 100, cached));
    await store.settleMany([
      entry(acme, "c2", 50, { inputTokens: 40, cacheReadTokens: 30 }),
      entry(acme, "c3", 10, { inputTokens: 5 }),
    ]);
    const rows = await store.listLedger({ tenantId: acme.tenant.id });
    const byTrace = Object.fromEntries(
      rows.map((
        row,
      ) => [row.traceId, [row.inputTokens, row.cacheReadTokens, row.cacheWriteTokens]]),
    );
    assertEquals(byTrace, { c1: [2300, 2000, 250], c2: [40, 30, 0], c3: [5, 0, 0] });
    const totals = await store.usageTotals(acme.tenant.id, {});
    assertEquals([totals.inputTokens, totals.cacheReadTokens, totals.cacheWriteTokens], [
      2345,
      2030,
      250,
    ]);
    await assertRejects(() =>
      store.settle(
        entry(acme, "c4", 1, { inputTokens: 10, cacheReadTokens: 8, cacheWriteTokens: 3 }),
      )
    );
  },

  async "the ledger lists newest first and narrows by tenant, trace id and limit"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 0 });
    const other = await account(store, { balanceMicros: 0, name: "other" });
    for (const trace of ["l1", "l2", "l3"]) await store.settle(entry(acme, trace, 1));
    await store.settle(entry(other, "o1", 1));
    const traceIds = async (filter: Parameters<Store["listLedger"]>[0]) =>
      (await store.listLedger(filter)).map((row) => row.traceId);
    assertEquals(await traceIds({ tenantId: acme.tenant.id }), ["l3", "l2", "l1"]);
    assertEquals(await traceIds({ tenantId: acme.tenant.id, limit: 2 }), ["l3", "l2"]);
    assertEquals(await traceIds({ traceId: "o1" }), ["o1"]);
    assertEquals(await traceIds({ tenantId: acme.tenant.id, traceId: "o1" }), []);
    assertEquals(await traceIds({}), ["o1", "l3", "l2", "l1"]);
    await rejectsWith(RangeError, () => store.listLedger({ limit: 0 }));
  },

  async "invalid amounts and a key of another tenant are refused and change nothing"(open) {
    const store = await migrated(open);
    const acme = await account(store, { balanceMicros: 1_000 });
    const other = await account(store, { balanceMicros: 1_000, name: "other" });
    for (const amountMicros of [0, -1, 1.5, NaN, Number.MAX_SAFE_INTEGER + 1]) {
      await rejectsWith(RangeError, () => store.reserve(reservation(acme, amountMicros)));
    }
    await rejectsWith(RangeError, () => store.reserve(reservation(acme, 1, { marginMicros: -1 })));
    await rejectsWith(
      TypeError,
      () => store.reserve(reservation(acme, 1, { expiresAt: new Date(NaN) })),
    );
    await rejectsWith(TypeError, () => store.reserve(reservation(acme, 1, { traceId: "" })));
    for (const bad of [{ costMicros: -1 }, { inputTokens: 0.5 }, { outputTokens: -2 }]) {
      await rejectsWith(RangeError, () => store.settle(entry(acme, "bad", 1, bad)));
    }
    const stolen = reservation(acme, 1, { apiKeyId: other.key.id });
    await assertRejects(() => store.reserve(stolen));
    await assertRejects(() => store.settle(entry(acme, "stolen", 1, { apiKeyId: other.key.id })));
    await assertRejects(() => store.reserve(reservation(acme, 1, { tenantId: "tnt_missing" })));
    await assertRejects(() => store.settle(entry(acme, "lost", 1, { tenantId: "tnt_missing" })));
    for (const each of [acme, other]) {
      assertEquals(await money(store, each), {
        balance: 1_000,
        tenantReserved: 0,
        spent: 0,
        keyReserved: 0,
      });
    }
    assertEquals(await store.listLedger({}), []);
  },

  async "the schema refuses negative reservations, spend and costs"(open, exec) {
    const store = await migrated(open);
    await account(store, { balanceMicros: 0 });
    for (
      const sql of [
        "UPDATE tenants SET reserved_micros = -1",
        "UPDATE api_keys SET spent_micros = -1",
        "UPDATE api_keys SET reserved_micros = -1",
      ]
    ) {
      await assertRejects(() => exec({ sqlite: sql, postgres: sql }), sql);
    }
  },

  async "after random concurrent traffic the balance, the ledger and the reservations agree"(
    open,
    _exec,
    query,
  ) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const initial = 50_000_000;
    const acme = await account(a, { balanceMicros: initial, budgetMicros: 30_000_000 });
    const second = await b.createApiKey({
      tenantId: acme.tenant.id,
      name: "second",
      keyHash: "hash-second",
      prefix: "sk-s",
    });
    const keys = [acme.key.id, second.id];
    let credits = 0;
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    const worker = async (store: Store, steps: number) => {
      for (let i = 0; i < steps; i++) {
        const apiKeyId = keys[random(2)];
        const input = reservation(acme, 1 + random(3_000_000), {
          apiKeyId,
          marginMicros: random(2) * 100_000,
          expiresAt: new Date(Date.now() + (random(5) === 0 ? -1 : HOUR)),
        });
        const roll = random(10);
        if (roll === 0) {
          const amount = random(1_000_000);
          credits += amount;
          await store.addCredits(acme.tenant.id, amount);
          continue;
        }
        if (roll === 1) {
          await store.releaseExpiredReservations(new Date());
          continue;
        }
        const reserved = await store.reserve(input);
        if (!reserved.ok) continue;
        if (roll < 4) continue; // left open, or for the sweeper
        if (roll < 6) {
          await store.release(input.traceId);
          continue;
        }
        const cost = random(input.amountMicros + 1);
        const settled = entry(acme, input.traceId, cost, { apiKeyId });
        await store.settle(settled);
        if (roll === 9) assertEquals(await store.settle(settled), "duplicate");
      }
    };
    await Promise.all([worker(a, 60), worker(b, 60), worker(a, 60), worker(b, 60)]);
    const tenant = await a.getTenant(acme.tenant.id);
    const ledger = await sumOf(query, "SELECT sum(cost_micros) AS total FROM ledger");
    assertEquals(tenant?.balanceMicros, initial + credits - ledger);
    const held = await sumOf(query, "SELECT sum(amount_micros) AS total FROM reservations");
    assertEquals(tenant?.reservedMicros, held);
    // Costs never exceed reservations here, so the largest margin used bounds both invariants.
    assert(tenant!.balanceMicros - tenant!.reservedMicros >= -100_000, "tenant invariant");
    for (const id of keys) {
      const key = (await a.listApiKeys(acme.tenant.id)).find((candidate) => candidate.id === id)!;
      const spent = await sumOf(
        query,
        `SELECT sum(cost_micros) AS total FROM ledger WHERE api_key_id = '${id}'`,
      );
      const keyHeld = await sumOf(
        query,
        `SELECT sum(amount_micros) AS total FROM reservations WHERE api_key_id = '${id}'`,
      );
      assertEquals([key.spentMicros, key.reservedMicros], [spent, keyHeld]);
      if (key.budgetMicros !== null) {
        assert(key.spentMicros + key.reservedMicros <= key.budgetMicros + 100_000, "key invariant");
      }
    }
    const usage = await a.usageTotals(acme.tenant.id, {});
    assertEquals(usage.costMicros, ledger);
  },
};

contractSuite(cases);
