// Budgets with periods in the store, run against SQLite and PostgreSQL: spend is kept per period
// start, so a new period starts from nothing while the old one keeps what it had, and a
// reservation is checked against its period's spend plus what is held.
import { assert, assertEquals } from "../../tests/assert.ts";
import type { PeriodStarts } from "../core/mod.ts";
import type {
  ApiKey,
  BudgetSettings,
  LedgerEntry,
  ReservationInput,
  Store,
  Tenant,
} from "./types.ts";
import { type Case, contractSuite, migrated, rejectsWith } from "./_contract.ts";

const DAY = 86_400_000;
// Thursday 3 December 2026 in UTC, and the Friday after it: one week, one month.
const THURSDAY: PeriodStarts = {
  daily: Date.UTC(2026, 11, 3),
  weekly: Date.UTC(2026, 10, 30),
  monthly: Date.UTC(2026, 11, 1),
};
const FRIDAY: PeriodStarts = { ...THURSDAY, daily: THURSDAY.daily + DAY };
const NEXT_MONTH: PeriodStarts = {
  daily: Date.UTC(2027, 0, 1),
  weekly: Date.UTC(2026, 11, 28),
  monthly: Date.UTC(2027, 0, 1),
};

let traces = 0;
const nextTrace = () => `budget-${++traces}-${crypto.randomUUID().slice(0, 8)}`;

interface Account {
  tenant: Tenant;
  key: ApiKey;
}

async function account(
  store: Store,
  options: { tenant?: Partial<BudgetSettings>; key?: Partial<BudgetSettings>; name?: string },
): Promise<Account> {
  const name = options.name ?? "acme";
  const tenant = await store.createTenant({ name, balanceMicros: 1_000_000, ...options.tenant });
  const key = await addKey(store, tenant, options.key ?? {});
  return { tenant, key };
}

function addKey(store: Store, tenant: Tenant, budget: Partial<BudgetSettings>): Promise<ApiKey> {
  return store.createApiKey({
    tenantId: tenant.id,
    name: "key",
    keyHash: `hash-${crypto.randomUUID()}`,
    prefix: "sk-x",
    ...budget,
  });
}

function hold(
  { tenant, key }: Account,
  amountMicros: number,
  periods: PeriodStarts,
): ReservationInput {
  return {
    traceId: nextTrace(),
    tenantId: tenant.id,
    apiKeyId: key.id,
    amountMicros,
    marginMicros: 0,
    expiresAt: new Date(Date.now() + DAY),
    periods,
  };
}

function charge({ tenant, key }: Account, traceId: string, costMicros: number): LedgerEntry {
  return {
    traceId,
    tenantId: tenant.id,
    apiKeyId: key.id,
    model: "gpt-4o-mini",
    provider: "openai",
    inputTokens: 1,
    outputTokens: 1,
    costMicros,
    estimated: false,
  };
}

/** Reserves and settles one request at `cost` in `periods`; whether it was let through. */
async function spend(
  store: Store,
  account: Account,
  cost: number,
  periods: PeriodStarts,
): Promise<boolean> {
  const input = hold(account, cost, periods);
  const reserved = await store.reserve(input);
  if (!reserved.ok) return false;
  assertEquals(await store.settle(charge(account, input.traceId, cost), periods), "settled");
  return true;
}

const cases: Record<string, Case> = {
  async "a key's daily budget refuses once the day's spend is used and starts afresh the next day"(
    open,
  ) {
    const store = await migrated(open);
    const acme = await account(store, { key: { budgetMicros: 1_000, budgetPeriod: "daily" } });
    assertEquals(acme.key.budgetPeriod, "daily");
    assertEquals(await spend(store, acme, 600, THURSDAY), true);
    assertEquals(await spend(store, acme, 400, THURSDAY), true);
    assertEquals(await store.reserve(hold(acme, 1, THURSDAY)), {
      ok: false,
      reason: "key_budget",
    });
    assertEquals(await spend(store, acme, 1_000, FRIDAY), true, "a new day, a new budget");
    assertEquals(await store.reserve(hold(acme, 1, FRIDAY)), { ok: false, reason: "key_budget" });
    // Each day keeps its own spend; the key's lifetime spend has all of it.
    assertEquals((await store.periodSpend(acme.tenant.id, THURSDAY)).keyMicros, {
      [acme.key.id]: 1_000,
    });
    assertEquals((await store.fundsOf(acme.tenant.id, acme.key.id, FRIDAY))?.spentMicros, 1_000);
    assertEquals((await store.listApiKeys(acme.tenant.id))[0].spentMicros, 2_000);
  },

  async "a tenant's monthly budget is shared by its keys and refused as the tenant's"(open) {
    const store = await migrated(open);
    const acme = await account(store, {
      tenant: { budgetMicros: 1_000, budgetPeriod: "monthly" },
    });
    const second = { tenant: acme.tenant, key: await addKey(store, acme.tenant, {}) };
    assertEquals(await spend(store, acme, 700, THURSDAY), true);
    assertEquals(await store.reserve(hold(second, 301, FRIDAY)), {
      ok: false,
      reason: "tenant_budget",
    });
    assertEquals(await spend(store, second, 300, FRIDAY), true, "the rest of the month's budget");
    assertEquals(await spend(store, second, 1_000, NEXT_MONTH), true);
    const funds = await store.fundsOf(acme.tenant.id, acme.key.id, FRIDAY);
    assertEquals([funds?.tenantBudgetMicros, funds?.tenantSpentMicros], [1_000, 1_000]);
    assertEquals((await store.periodSpend(acme.tenant.id, NEXT_MONTH)).tenantMicros, 1_000);
    // The balance pays for every period's spend.
    assertEquals((await store.getTenant(acme.tenant.id))?.balanceMicros, 1_000_000 - 2_000);
  },

  async "what is held counts against the period's budget until it is settled or released"(open) {
    const store = await migrated(open);
    const acme = await account(store, { key: { budgetMicros: 1_000, budgetPeriod: "weekly" } });
    const first = hold(acme, 800, THURSDAY);
    assertEquals(await store.reserve(first), { ok: true });
    assertEquals(await store.reserve(hold(acme, 300, FRIDAY)), {
      ok: false,
      reason: "key_budget",
    });
    await store.release(first.traceId);
    assertEquals(await store.reserve(hold(acme, 300, FRIDAY)), { ok: true });
  },

  async "a request reserved in one period and settled in the next counts in the next"(open) {
    const store = await migrated(open);
    const acme = await account(store, { key: { budgetMicros: 1_000, budgetPeriod: "daily" } });
    const late = hold(acme, 900, THURSDAY);
    assertEquals(await store.reserve(late), { ok: true });
    assertEquals(await store.settle(charge(acme, late.traceId, 900), FRIDAY), "settled");
    const spent = (periods: PeriodStarts) =>
      store.periodSpend(acme.tenant.id, periods).then((spend) => spend.keyMicros[acme.key.id]);
    assertEquals([await spent(THURSDAY), await spent(FRIDAY)], [0, 900]);
    assertEquals(await store.reserve(hold(acme, 200, FRIDAY)), {
      ok: false,
      reason: "key_budget",
    });
    assertEquals(await store.reserve(hold(acme, 200, THURSDAY)), { ok: true });
  },

  async "a batch of settlements counts each tenant's and key's spend in the batch's period"(open) {
    const store = await migrated(open);
    const acme = await account(store, {
      tenant: { budgetMicros: 10_000, budgetPeriod: "daily" },
      key: { budgetMicros: 10_000, budgetPeriod: "weekly" },
    });
    const entries = [100, 200, 300].map((cost) => charge(acme, nextTrace(), cost));
    assertEquals(await store.settleMany([...entries, entries[0]], FRIDAY), [
      "settled",
      "settled",
      "settled",
      "duplicate",
    ]);
    const spend = await store.periodSpend(acme.tenant.id, FRIDAY);
    assertEquals(spend, { tenantMicros: 600, keyMicros: { [acme.key.id]: 600 } });
    assertEquals((await store.periodSpend(acme.tenant.id, THURSDAY)).tenantMicros, 0);
    assertEquals((await store.periodSpend(acme.tenant.id, THURSDAY)).keyMicros[acme.key.id], 600);
  },

  async "a lifetime budget set later counts what the tenant spent before it"(open) {
    const store = await migrated(open);
    const acme = await account(store, {});
    assertEquals(await spend(store, acme, 700, THURSDAY), true);
    const updated = await store.updateTenant(acme.tenant.id, { budgetMicros: 1_000 });
    assertEquals([updated?.budgetMicros, updated?.budgetPeriod], [1_000, null]);
    assertEquals(await store.reserve(hold(acme, 301, NEXT_MONTH)), {
      ok: false,
      reason: "tenant_budget",
    });
    assertEquals(await spend(store, acme, 300, NEXT_MONTH), true);
    // A period set now counts from now on; clearing the budget lets everything through.
    await store.updateTenant(acme.tenant.id, { budgetPeriod: "monthly" });
    assertEquals(await spend(store, acme, 1_000, NEXT_MONTH), true);
    await store.updateTenant(acme.tenant.id, { budgetMicros: null, budgetPeriod: null });
    assertEquals(await spend(store, acme, 5_000, NEXT_MONTH), true);
    assertEquals((await store.getTenant(acme.tenant.id))?.budgetPeriod, null);
  },

  async "two instances racing for the last of a period's budget let exactly that much through"(
    open,
  ) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const acme = await account(a, {
      tenant: { budgetMicros: 10_000, budgetPeriod: "daily" },
      key: { budgetMicros: 20_000, budgetPeriod: "daily" },
    });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).reserve(hold(acme, 1_000, FRIDAY))),
    );
    assertEquals(results.filter((result) => result.ok).length, 10);
    assert(results.every((result) => result.ok || result.reason === "tenant_budget"));
    const batched = await b.reserveMany(
      Array.from({ length: 3 }, () => hold(acme, 1_000, NEXT_MONTH)),
    );
    assertEquals(batched.map((result) => result.ok), [false, false, false], "still held");
  },

  async "budget usage lists the most used budgets first, without revoked keys"(open) {
    const store = await migrated(open);
    const acme = await account(store, {
      tenant: { budgetMicros: 1_000, budgetPeriod: "monthly" },
      key: { budgetMicros: 500, budgetPeriod: "daily" },
    });
    const idle = await account(store, { name: "idle", key: { budgetMicros: 2_000 } });
    const revoked = await addKey(store, idle.tenant, { budgetMicros: 1 });
    await store.revokeApiKey(revoked.id);
    await account(store, { name: "unbudgeted" });
    assertEquals(await spend(store, acme, 400, THURSDAY), true);
    assertEquals(await spend(store, idle, 100, THURSDAY), true);
    const usage = await store.listBudgetUsage({ periods: THURSDAY, limit: 10 });
    assertEquals(usage.map((row) => [row.apiKeyId, row.spentMicros, row.budgetMicros]), [
      [acme.key.id, 400, 500],
      [null, 400, 1_000],
      [idle.key.id, 100, 2_000],
    ]);
    assertEquals(usage[1], {
      tenantId: acme.tenant.id,
      apiKeyId: null,
      budgetMicros: 1_000,
      budgetPeriod: "monthly",
      spentMicros: 400,
      reservedMicros: 0,
    });
    assertEquals((await store.listBudgetUsage({ periods: FRIDAY, limit: 1 }))[0].apiKeyId, null);
  },

  async "a budget period other than daily, weekly or monthly is refused"(open) {
    const store = await migrated(open);
    const acme = await account(store, {});
    const hourly = "hourly" as BudgetSettings["budgetPeriod"];
    await rejectsWith(
      RangeError,
      () => store.updateTenant(acme.tenant.id, { budgetPeriod: hourly }),
    );
    await rejectsWith(RangeError, () => addKey(store, acme.tenant, { budgetPeriod: hourly }));
    await rejectsWith(
      RangeError,
      () => store.createTenant({ name: "x", balanceMicros: 0, budgetPeriod: hourly }),
    );
  },
};

contractSuite(cases);
