import { assertEquals } from "../../tests/assert.ts";
import type { AccountFunds, LedgerEntry } from "../store/mod.ts";
import type { HoldRequest } from "./funds.ts";
import { MemoryFunds } from "./memory_funds.ts";

function request(traceId: string, amountMicros: number): HoldRequest {
  return {
    traceId,
    clientTraceId: false,
    tenantId: "t",
    apiKeyId: "k",
    amountMicros,
    marginMicros: 0,
    expiresAt: new Date(Date.now() + 60_000),
  };
}

function entry(traceId: string, costMicros: number): LedgerEntry {
  return {
    traceId,
    tenantId: "t",
    apiKeyId: "k",
    model: "m",
    provider: "p",
    inputTokens: 1,
    outputTokens: 1,
    costMicros,
    estimated: false,
  };
}

Deno.test("memory funds read again when a settlement lands between their read and their check", async () => {
  let balance = 1_000;
  let reads = 0;
  let onRead = () => {};
  const store = {
    fundsOf(): Promise<AccountFunds> {
      reads++;
      const read: AccountFunds = {
        balanceMicros: balance,
        reservedMicros: 0,
        tenantBudgetMicros: null,
        tenantBudgetPeriod: null,
        tenantSpentMicros: 0,
        budgetMicros: null,
        budgetPeriod: null,
        spentMicros: 0,
        keyReservedMicros: 0,
      };
      onRead();
      return Promise.resolve(read);
    },
    settledTraceIds: () => Promise.resolve([]),
  };
  // Every reservation reads, as when settlements come faster than reservations.
  const funds = new MemoryFunds({ store, cacheMs: 0 });
  assertEquals(await funds.reserve(request("a", 600)), { ok: true });
  await funds.charge({ traceId: "a", tenantId: "t", apiKeyId: "k", costMicros: 600 });
  // The billing job settles "a" in the store, and then in the funds, while "b" waits for its read
  // of the balance from before the settlement.
  onRead = () => {
    onRead = () => {};
    queueMicrotask(() => {
      balance -= 600;
      void funds.settled([entry("a", 600)]);
    });
  };
  assertEquals(await funds.reserve(request("b", 500)), { ok: false, reason: "tenant_balance" });
  assertEquals(reads, 3);
  assertEquals(await funds.reserve(request("c", 400)), { ok: true });
});

Deno.test("memory funds read a tenant's funds again only after its settlements, credits and budget changes", async () => {
  let balance = 1_000;
  let spent = 0;
  let budget: number | null = null;
  let reads = 0;
  const store = {
    fundsOf(): Promise<AccountFunds> {
      reads++;
      return Promise.resolve({
        balanceMicros: balance,
        reservedMicros: 0,
        tenantBudgetMicros: null,
        tenantBudgetPeriod: null,
        tenantSpentMicros: 0,
        budgetMicros: budget,
        budgetPeriod: null,
        spentMicros: spent,
        keyReservedMicros: 0,
      });
    },
    settledTraceIds: () => Promise.resolve([]),
  };
  const funds = new MemoryFunds({ store, cacheMs: 60_000 });
  assertEquals(await funds.reserve(request("a", 300)), { ok: true });
  assertEquals(await funds.reserve(request("b", 300)), { ok: true });
  assertEquals(reads, 1);
  // "a" is settled: 300 leaves the holds for the store's balance, and the next one reads it.
  balance -= 300;
  spent += 300;
  await funds.settled([entry("a", 300)]);
  assertEquals(await funds.reserve(request("c", 401)), { ok: false, reason: "tenant_balance" });
  assertEquals(reads, 2);
  assertEquals(await funds.reserve(request("c", 400)), { ok: true });
  assertEquals(reads, 2);
  balance += 1_000;
  await funds.credited("t");
  assertEquals(await funds.reserve(request("d", 100)), { ok: true });
  assertEquals(reads, 3);
  // Spent 300 and held 800 of a new budget of 1,000.
  budget = 1_000;
  await funds.budgetChanged("t");
  assertEquals(await funds.reserve(request("e", 1)), { ok: false, reason: "key_budget" });
  assertEquals(reads, 4);
});
