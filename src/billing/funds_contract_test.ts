// Reservations held by the store, by Redis or by the process's memory in front of it, one contract: whatever holds them,
// `balance − held ≥ −margin` for a tenant and `spent + held ≤ budget + margin` for a key, on
// several instances at once, and what a request cost moves from its hold to the store's balance.
import { assert, assertEquals } from "../../tests/assert.ts";
import { openTestRedis } from "../../tests/redis_testing.ts";
import { migrated, type Open, pg, sqlite, withDatabase } from "../store/_contract.ts";
import type { PeriodStarts } from "../core/mod.ts";
import type {
  ApiKey,
  BudgetSettings,
  LedgerEntry,
  ReserveResult,
  Store,
  Tenant,
} from "../store/mod.ts";
import { type Funds, type HoldRequest, StoreFunds } from "./funds.ts";
import { MemoryFunds } from "./memory_funds.ts";
import { RedisFunds } from "./redis_funds.ts";
import { RedisRateLimiter } from "../limits/mod.ts";

const HOUR = 3_600_000;

interface Setup {
  store: Store;
  /** A second instance's funds, on the same store (and Redis). */
  funds: [Funds, Funds];
}

interface Kind {
  name: string;
  run(test: (setup: Setup) => Promise<void>): Promise<void>;
}

function storeFunds(backend: typeof sqlite): Kind {
  return {
    name: `store (${backend.name})`,
    run: (test) =>
      withDatabase(backend, async (open: Open) => {
        const [a, b] = [await migrated(open), await migrated(open)];
        await test({ store: a, funds: [new StoreFunds(a), new StoreFunds(b)] });
      }),
  };
}

function redisFunds(backend: typeof sqlite): Kind {
  return {
    name: `redis over ${backend.name}`,
    run: (test) =>
      withDatabase(backend, async (open: Open) => {
        await using redis = await openTestRedis();
        const [a, b] = [await migrated(open), await migrated(open)];
        const connection = await redis.connect();
        const make = (store: Store, client = redis.client) =>
          new RedisFunds({ redis: client, prefix: redis.prefix, store, timeoutMs: 2000 });
        await test({ store: a, funds: [make(a), make(b, connection)] });
      }),
  };
}

// One process's holds: both "instances" are the same object, as a second process cannot share them.
function memoryFunds(backend: typeof sqlite): Kind {
  return {
    name: `memory over ${backend.name}`,
    run: (test) =>
      withDatabase(backend, async (open: Open) => {
        const store = await migrated(open);
        const funds = new MemoryFunds({ store });
        await test({ store, funds: [funds, funds] });
      }),
  };
}

let traces = 0;
const nextTrace = () => `trace-${++traces}-${crypto.randomUUID().slice(0, 8)}`;

async function account(store: Store, balanceMicros: number, budgetMicros: number | null = null) {
  const tenant = await store.createTenant({ name: "acme", balanceMicros });
  const key = await store.createApiKey({
    tenantId: tenant.id,
    name: "acme",
    keyHash: `hash-${crypto.randomUUID()}`,
    prefix: "sk-x",
    budgetMicros,
  });
  return { tenant, key };
}

function hold(
  { tenant, key }: { tenant: Tenant; key: ApiKey },
  amountMicros: number,
  overrides: Partial<HoldRequest> = {},
): HoldRequest {
  return {
    traceId: nextTrace(),
    clientTraceId: false,
    tenantId: tenant.id,
    apiKeyId: key.id,
    amountMicros,
    marginMicros: 0,
    expiresAt: new Date(Date.now() + HOUR),
    ...overrides,
  };
}

/** The ledger entry of `request`, costing `costMicros`. */
function ledgerEntry(request: HoldRequest, costMicros: number): LedgerEntry {
  return {
    traceId: request.traceId,
    tenantId: request.tenantId,
    apiKeyId: request.apiKeyId,
    model: "gpt-4o-mini",
    provider: "openai",
    inputTokens: 1,
    outputTokens: 1,
    costMicros,
    estimated: false,
  };
}

/** Settles in the store as the billing job does, then tells the funds. */
async function settle(setup: Setup, request: HoldRequest, costMicros: number) {
  const entry = ledgerEntry(request, costMicros);
  await setup.funds[0].charge({ ...entry });
  assertEquals(await setup.store.settle(entry), "settled");
  await setup.funds[1].settled([entry]);
}

/** Settles in the store in `periods` as the billing job does, then tells the funds. */
async function settleIn(
  setup: Setup,
  request: HoldRequest,
  costMicros: number,
  periods: PeriodStarts,
) {
  const entry = ledgerEntry(request, costMicros);
  await setup.funds[0].charge({ ...entry });
  assertEquals(await setup.store.settle(entry, periods), "settled");
  await setup.funds[1].settled([entry], periods);
}

const DAY = 86_400_000;
// Thursday 3 December 2026 in UTC, the Friday after it, and the first of the next month.
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

/** A tenant with a large balance, and a key, with the budgets given. */
async function budgeted(
  store: Store,
  budgets: { tenant?: Partial<BudgetSettings>; key?: Partial<BudgetSettings> },
) {
  const tenant = await store.createTenant({
    name: "acme",
    balanceMicros: 1_000_000,
    ...budgets.tenant,
  });
  const key = await store.createApiKey({
    tenantId: tenant.id,
    name: "acme",
    keyHash: `hash-${crypto.randomUUID()}`,
    prefix: "sk-x",
    ...budgets.key,
  });
  return { tenant, key };
}

const ok: ReserveResult = { ok: true };
const keyShort: ReserveResult = { ok: false, reason: "key_budget" };
const tenantOverBudget: ReserveResult = { ok: false, reason: "tenant_budget" };
const tenantShort: ReserveResult = { ok: false, reason: "tenant_balance" };

const cases: Record<string, (setup: Setup) => Promise<void>> = {
  async "a balance holds what it covers, within the margin, and no more"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000);
    assertEquals(await a.reserve(hold(acme, 600)), ok);
    assertEquals(await b.reserve(hold(acme, 500)), tenantShort);
    assertEquals(await b.reserve(hold(acme, 500, { marginMicros: 100 })), ok);
    assertEquals(await a.reserve(hold(acme, 1)), tenantShort);
  },

  async "a balance of a billion dollars is held to the micro-dollar"(setup) {
    const [a, b] = setup.funds;
    const billion = 1_000_000_000_000_000;
    const acme = await account(setup.store, billion, billion);
    const request = hold(acme, billion - 1);
    assertEquals(await a.reserve(request), ok);
    assertEquals(await b.reserve(hold(acme, 2)), tenantShort);
    await settle(setup, request, billion - 1);
    assertEquals(await b.reserve(hold(acme, 1)), ok);
    assertEquals(await a.reserve(hold(acme, 1)), tenantShort);
  },

  async "a key's budget holds like a balance"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000_000, 300);
    assertEquals(await a.reserve(hold(acme, 200)), ok);
    assertEquals(await b.reserve(hold(acme, 200)), { ok: false, reason: "key_budget" });
  },

  async "a release gives the reservation back to every instance"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000);
    const first = hold(acme, 1_000);
    assertEquals(await a.reserve(first), ok);
    assertEquals(await b.reserve(hold(acme, 1_000)), tenantShort);
    await a.release(first.traceId, first.tenantId);
    assertEquals(await b.reserve(hold(acme, 1_000)), ok);
  },

  async "a settled request leaves its cost spent and the rest of its reservation free"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000, 800);
    const request = hold(acme, 700);
    assertEquals(await a.reserve(request), ok);
    await settle(setup, request, 300);
    // 700 left on the balance and 500 of the budget.
    assertEquals(await b.reserve(hold(acme, 501)), { ok: false, reason: "key_budget" });
    assertEquals(await b.reserve(hold(acme, 500)), ok);
    assertEquals(await a.reserve(hold(acme, 201)), tenantShort);
    assertEquals(await a.reserve(hold(acme, 200)), { ok: false, reason: "key_budget" });
    assertEquals((await setup.store.getTenant(acme.tenant.id))?.balanceMicros, 700);
  },

  async "a charge stays held until its settlement"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000);
    const request = hold(acme, 500);
    assertEquals(await a.reserve(request), ok);
    await a.charge({ ...request, costMicros: 500 });
    assertEquals(await b.reserve(hold(acme, 501)), tenantShort);
    await settle(setup, request, 500);
    assertEquals(await b.reserve(hold(acme, 500)), ok);
    assertEquals(await b.reserve(hold(acme, 1)), tenantShort);
  },

  async "a request settled without its charge step still leaves its cost spent"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000);
    const request = hold(acme, 600);
    assertEquals(await a.reserve(request), ok);
    // The charge never reached the funds (Redis went away mid-request); the settlement did.
    const entry = ledgerEntry(request, 300);
    assertEquals(await setup.store.settle(entry), "settled");
    await b.settled([entry]);
    assertEquals(await b.reserve(hold(acme, 701)), tenantShort);
    assertEquals(await a.reserve(hold(acme, 700)), ok);
  },

  async "a batch of settlements, one repeated and one never charged, frees each hold once"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000, 900);
    const charged = hold(acme, 300);
    const uncharged = hold(acme, 200);
    assertEquals(await a.reserve(charged), ok);
    assertEquals(await a.reserve(uncharged), ok);
    await a.charge({ ...charged, costMicros: 100 });
    const entries = [ledgerEntry(charged, 100), ledgerEntry(uncharged, 150)];
    assertEquals(await setup.store.settleMany(entries), ["settled", "settled"]);
    await b.settled([entries[0], entries[1], entries[1]]);
    // 750 left on the balance and 650 of the budget.
    assertEquals(await b.reserve(hold(acme, 651)), { ok: false, reason: "key_budget" });
    assertEquals(await b.reserve(hold(acme, 650)), ok);
    assertEquals(await a.reserve(hold(acme, 101)), tenantShort);
    assertEquals((await setup.store.getTenant(acme.tenant.id))?.balanceMicros, 750);
  },

  async "charges made at once, one of them twice, each hold their cost once"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000);
    const requests = [hold(acme, 300), hold(acme, 300), hold(acme, 300)];
    for (const request of requests) assertEquals(await a.reserve(request), ok);
    const costs = [100, 50, 25];
    // The first call goes alone and the rest together, the repeat among them.
    await Promise.all(
      [2, 0, 0, 1].map((i) => a.charge({ ...requests[i], costMicros: costs[i] })),
    );
    assertEquals(await b.reserve(hold(acme, 826)), tenantShort);
    for (const [i, request] of requests.entries()) await settle(setup, request, costs[i]);
    assertEquals(await a.reserve(hold(acme, 826)), tenantShort);
    assertEquals(await a.reserve(hold(acme, 825)), ok);
  },

  async "a trace id in flight or, from a client, already settled is a duplicate"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000_000);
    const request = hold(acme, 10, { clientTraceId: true });
    assertEquals(await a.reserve(request), ok);
    assertEquals(await b.reserve({ ...request }), { ok: false, reason: "duplicate" });
    await settle(setup, request, 5);
    assertEquals(await b.reserve({ ...request }), { ok: false, reason: "duplicate" });
  },

  async "100 concurrent requests on two instances against a balance that covers 10"(setup) {
    const acme = await account(setup.store, 10_000);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => setup.funds[i % 2].reserve(hold(acme, 1_000))),
    );
    assertEquals(results.filter((result) => result.ok).length, 10);
  },

  async "a top-up and a new budget apply to the next request"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 100, 100);
    assertEquals(await a.reserve(hold(acme, 100)), ok);
    await setup.store.addCredits(acme.tenant.id, 1_000);
    await b.credited(acme.tenant.id, 1_000);
    assertEquals(await a.reserve(hold(acme, 500)), { ok: false, reason: "key_budget" });
    await setup.store.updateApiKey(acme.key.id, { budgetMicros: 2_000 });
    await a.budgetChanged(acme.tenant.id, acme.key.id);
    assertEquals(await b.reserve(hold(acme, 1_000)), ok);
    assertEquals(await b.reserve(hold(acme, 1)), tenantShort);
  },

  async "a reservation whose request died is returned once it expires"(setup) {
    const [a, b] = setup.funds;
    const acme = await account(setup.store, 1_000);
    // Long enough that a loaded machine still makes the second call before it expires.
    const lifeMs = 500;
    assertEquals(
      await a.reserve(hold(acme, 1_000, { expiresAt: new Date(Date.now() + lifeMs) })),
      ok,
    );
    assertEquals(await b.reserve(hold(acme, 1_000)), tenantShort);
    await new Promise((resolve) => setTimeout(resolve, lifeMs + 50));
    // The store's sweeper returns it; Redis returns it at the tenant's next reservation.
    await setup.store.releaseExpiredReservations(new Date());
    assertEquals(await b.reserve(hold(acme, 1_000)), ok);
  },

  async "a key's daily budget refuses within its day, on every instance, and holds afresh the next"(
    setup,
  ) {
    const [a, b] = setup.funds;
    const acme = await budgeted(setup.store, {
      key: { budgetMicros: 1_000, budgetPeriod: "daily" },
    });
    const first = hold(acme, 600, { periods: THURSDAY });
    assertEquals(await a.reserve(first), ok);
    await settleIn(setup, first, 600, THURSDAY);
    assertEquals(await b.reserve(hold(acme, 401, { periods: THURSDAY })), keyShort);
    const second = hold(acme, 400, { periods: THURSDAY });
    assertEquals(await b.reserve(second), ok);
    // What is still held counts in the new day too, until it is settled or released.
    assertEquals(await a.reserve(hold(acme, 1_000, { periods: FRIDAY })), keyShort);
    await b.release(second.traceId, second.tenantId);
    assertEquals(await a.reserve(hold(acme, 1_000, { periods: FRIDAY })), ok);
    assertEquals(await b.reserve(hold(acme, 1, { periods: FRIDAY })), keyShort);
  },

  async "a tenant's monthly budget is shared by its keys and refused as the tenant's"(setup) {
    const [a, b] = setup.funds;
    const acme = await budgeted(setup.store, {
      tenant: { budgetMicros: 1_000, budgetPeriod: "monthly" },
    });
    const other = {
      tenant: acme.tenant,
      key: await setup.store.createApiKey({
        tenantId: acme.tenant.id,
        name: "other",
        keyHash: `hash-${crypto.randomUUID()}`,
        prefix: "sk-y",
      }),
    };
    const first = hold(acme, 700, { periods: THURSDAY });
    assertEquals(await a.reserve(first), ok);
    await settleIn(setup, first, 700, THURSDAY);
    assertEquals(await b.reserve(hold(other, 301, { periods: FRIDAY })), tenantOverBudget);
    const rest = hold(other, 300, { periods: FRIDAY });
    assertEquals(await b.reserve(rest), ok);
    await settleIn(setup, rest, 300, FRIDAY);
    assertEquals(await a.reserve(hold(acme, 1, { periods: FRIDAY })), tenantOverBudget);
    assertEquals(await b.reserve(hold(other, 1_000, { periods: NEXT_MONTH })), ok);
    assertEquals(await a.reserve(hold(acme, 1, { periods: NEXT_MONTH })), tenantOverBudget);
  },

  async "a cost counts in the period it is settled in, a late one's included"(setup) {
    const [a, b] = setup.funds;
    const acme = await budgeted(setup.store, {
      key: { budgetMicros: 1_000, budgetPeriod: "daily" },
    });
    const late = hold(acme, 500, { periods: THURSDAY });
    assertEquals(await a.reserve(late), ok);
    // The new day begins on the other instance while the first request is still running.
    const next = hold(acme, 400, { periods: FRIDAY });
    assertEquals(await b.reserve(next), ok);
    await settleIn(setup, late, 500, THURSDAY);
    assertEquals(await a.reserve(hold(acme, 601, { periods: FRIDAY })), keyShort);
    assertEquals(await b.reserve(hold(acme, 600, { periods: FRIDAY })), ok);
    // Reserved on Friday, settled on Saturday: Saturday's spend.
    const saturday = { ...FRIDAY, daily: FRIDAY.daily + DAY };
    await settleIn(setup, next, 400, saturday);
    assertEquals(
      await b.reserve(hold(acme, 1, { periods: saturday })),
      keyShort,
      "400 spent and 600 held",
    );
    assertEquals(await a.reserve(hold(acme, 400, { periods: FRIDAY })), ok, "nothing spent Friday");
  },

  async "a budget or period changed in the store holds from the next reservation"(setup) {
    const [a, b] = setup.funds;
    const acme = await budgeted(setup.store, { key: { budgetMicros: 1_000 } });
    const first = hold(acme, 800, { periods: THURSDAY });
    assertEquals(await a.reserve(first), ok);
    await settleIn(setup, first, 800, THURSDAY);
    assertEquals(await b.reserve(hold(acme, 201, { periods: THURSDAY })), keyShort);
    // A daily budget counts from now on: nothing is spent in it yet.
    await setup.store.updateApiKey(acme.key.id, { budgetPeriod: "daily" });
    await a.budgetChanged(acme.tenant.id, acme.key.id);
    assertEquals(await b.reserve(hold(acme, 1_000, { periods: THURSDAY })), ok);
    await setup.store.updateTenant(acme.tenant.id, { budgetMicros: 900 });
    await b.budgetChanged(acme.tenant.id);
    assertEquals(await a.reserve(hold(acme, 1, { periods: FRIDAY })), tenantOverBudget);
  },
};

const kinds = [
  storeFunds(sqlite),
  storeFunds(pg),
  redisFunds(sqlite),
  redisFunds(pg),
  memoryFunds(sqlite),
  memoryFunds(pg),
];
for (const kind of kinds) {
  for (const [name, test] of Object.entries(cases)) {
    Deno.test(`${kind.name}: ${name}`, () => kind.run(test));
  }
}

/** Runs `test` with one instance's Redis funds over a fresh store and Redis prefix. */
function withRedisFunds(
  backend: typeof sqlite,
  test: (
    store: Store,
    funds: RedisFunds,
    redis: Awaited<ReturnType<typeof openTestRedis>>,
  ) => Promise<void>,
): Promise<void> {
  return withDatabase(backend, async (open) => {
    await using redis = await openTestRedis();
    const store = await migrated(open);
    const funds = new RedisFunds({
      redis: redis.client,
      prefix: redis.prefix,
      store,
      timeoutMs: 2000,
    });
    await test(store, funds, redis);
  });
}

Deno.test("redis funds load from the store once, and again after Redis lost them", async () => {
  await withRedisFunds(pg, async (store, funds, redis) => {
    const acme = await account(store, 1_000);
    const request = hold(acme, 400);
    assertEquals(await funds.reserve(request), ok);
    await settle({ store, funds: [funds, funds] }, request, 400);
    for await (const keys of redis.client.scanIterator({ MATCH: `${redis.prefix}funds:*` })) {
      if (keys.length > 0) await redis.client.del(keys);
    }
    // Reloaded from the store: 600 left.
    assertEquals(await funds.reserve(hold(acme, 601)), tenantShort);
    assertEquals(await funds.reserve(hold(acme, 600)), ok);
    assert(
      (await redis.client.hGet(`${redis.prefix}funds:{t:${acme.tenant.id}}:counters`, "bal")) ===
        "600",
    );
  });
});

Deno.test("redis funds ignore a charge that reaches Redis after its settlement", async () => {
  await withRedisFunds(sqlite, async (store, funds) => {
    const acme = await account(store, 1_000);
    const request = hold(acme, 400);
    assertEquals(await funds.reserve(request), ok);
    // The charge was sent first but ran last, as when Redis had lost its script.
    const entry = ledgerEntry(request, 300);
    assertEquals(await store.settle(entry), "settled");
    await funds.settled([entry]);
    await funds.charge({ ...entry });
    await funds.settled([entry]);
    assertEquals(await funds.reserve(hold(acme, 701)), tenantShort);
    assertEquals(await funds.reserve(hold(acme, 700)), ok);
    assertEquals(await funds.reserve({ ...request }), { ok: false, reason: "duplicate" });
  });
});

Deno.test("redis funds run a rate limit in the reservation's script: both are recorded, or neither", async () => {
  await withRedisFunds(pg, async (store, funds, redis) => {
    const acme = await account(store, 1_000);
    const limiter = new RedisRateLimiter({ redis: redis.client, prefix: redis.prefix });
    const subject = {
      tenantId: acme.tenant.id,
      apiKeyId: acme.key.id,
      tenant: {},
      key: { rpm: 2 },
    };
    const step = () => limiter.step(subject, 0)!;

    // The funds refuse first: the limit is not touched.
    const short = await funds.reserveWith(hold(acme, 1_001), step());
    assertEquals(short, { reserved: tenantShort, held: false });

    const first = await funds.reserveWith(hold(acme, 100), step());
    assertEquals(first.reserved, ok);
    assertEquals(first.held, true);
    assertEquals(first.alongside?.allowed, true);
    assertEquals(first.alongside?.state.remainingRequests, 1, "the refused one took no request");
    assertEquals((await funds.reserveWith(hold(acme, 100), step())).held, true);

    // The limit refuses: nothing is held, though the funds had room.
    const limited = await funds.reserveWith(hold(acme, 100), step());
    assertEquals(limited.reserved, ok);
    assertEquals(limited.held, false);
    assertEquals(limited.alongside?.allowed, false);
    assertEquals(await funds.reserve(hold(acme, 801)), tenantShort);
    assertEquals(await funds.reserve(hold(acme, 800)), ok, "only the two allowed hold money");
  });
});
