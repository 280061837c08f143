import type { PeriodStarts } from "../core/mod.ts";
import type { AccountFunds, LedgerEntry, ReserveResult, Store } from "../store/mod.ts";
import type { Charge, Funds, HoldRequest } from "./funds.ts";

/** What {@linkcode MemoryFunds} is built from. */
export interface MemoryFundsOptions {
  /** The truth: balances, budgets and spend are read from it. */
  store: Pick<Store, "fundsOf" | "settledTraceIds">;
  /**
   * How long a read of a tenant's balance and a key's budget serves later reservations, unless a
   * settlement, a credit or a budget change of the tenant comes first; default 1000 ms. It bounds
   * how late a change made to the database behind the gateway's back is seen.
   */
  cacheMs?: number;
}

interface CachedFunds {
  funds: AccountFunds;
  readAt: number;
  /** The budget periods the spend was read for: a new period needs a new read. */
  periods: PeriodStarts | undefined;
}

interface Hold {
  tenantId: string;
  apiKeyId: string;
  amountMicros: number;
  /** Reserved (the worst case of a request in flight) or charged (its cost, until settled). */
  state: "reserved" | "charged";
  expiresAt: number;
}

interface TenantHolds {
  held: number;
  keyHeld: Map<string, number>;
  /** Reserved holds in the order they were made, which is the order they expire in. */
  reserved: Map<string, Hold>;
  /** Grows at every settlement, whose charge then leaves the holds for the store's balance. */
  settlements: number;
}

// Expired reservations dropped per reservation, at most: the sweep stays short on the hot path.
const SWEEP_MAX = 16;
// Reads of the store before a reservation gives up, should settlements keep coming between the
// read and the check (each one moves money from the holds to the store).
const MAX_READS = 8;

/**
 * Reservations held in this process's memory, in front of the store: no database write on the
 * hot path, and a read of the tenant's balance and key's budget once per settlement of the
 * tenant or second (see `cacheMs`), not per request. For one process
 * only (the embedded SQLite mode, whose data directory no other process may share): instances
 * sharing a database must hold in the store or in Redis, or each would spend the same balance.
 * A tenant's balance less the store's reservations and these holds never goes below minus the
 * margin, nor a key's spend plus holds above its budget plus the margin. A charge is in the
 * store's balance from its settlement until the billing job drops its hold just after (see
 * Billing), and counts twice meanwhile: never too little. After a crash, charges whose billing
 * jobs the journal replays are held nowhere until those jobs have run, which they do first.
 */
export class MemoryFunds implements Funds {
  readonly #store: MemoryFundsOptions["store"];
  readonly #holds = new Map<string, Hold>();
  readonly #tenants = new Map<string, TenantHolds>();
  readonly #cacheMs: number;
  // Per tenant, per key: what the store said. Every change this process makes to a tenant's
  // balance or a key's budget or spend comes through settled, credited or budgetChanged, which
  // drop the tenant's reads; the one process per data folder makes no other.
  readonly #reads = new Map<string, Map<string, CachedFunds>>();

  constructor(options: MemoryFundsOptions) {
    this.#store = options.store;
    this.#cacheMs = options.cacheMs ?? 1000;
  }

  async reserve(request: HoldRequest): Promise<ReserveResult> {
    const { traceId, tenantId, apiKeyId, amountMicros, marginMicros, periods } = request;
    // A hold catches a trace id still in flight; once settled, only the ledger knows it.
    if (request.clientTraceId) {
      const settled = await this.#store.settledTraceIds([traceId]);
      if (settled.length > 0) return { ok: false, reason: "duplicate" };
    }
    const tenant = this.#tenant(tenantId);
    for (let read = 0; read < MAX_READS; read++) {
      let funds = this.#cached(tenantId, apiKeyId, periods);
      if (funds === undefined) {
        const settlements = tenant.settlements;
        funds = await this.#store.fundsOf(tenantId, apiKeyId, periods);
        if (!funds) {
          throw new Error(
            `Cannot reserve as tenant ${tenantId} or its API key ${apiKeyId} does not exist`,
          );
        }
        // A charge that left the holds after the read may be missing from the balance read.
        if (tenant.settlements !== settlements) continue;
        this.#remember(tenantId, apiKeyId, { funds, readAt: performance.now(), periods });
      }
      this.#sweep(tenant, Date.now());
      if (this.#holds.has(traceId)) return { ok: false, reason: "duplicate" };
      const available = funds.balanceMicros - funds.reservedMicros - tenant.held;
      if (available - amountMicros < -marginMicros) return { ok: false, reason: "tenant_balance" };
      if (
        funds.tenantBudgetMicros !== null &&
        funds.tenantSpentMicros + funds.reservedMicros + tenant.held + amountMicros >
          funds.tenantBudgetMicros + marginMicros
      ) {
        return { ok: false, reason: "tenant_budget" };
      }
      const keyHeld = tenant.keyHeld.get(apiKeyId) ?? 0;
      if (
        funds.budgetMicros !== null &&
        funds.spentMicros + funds.keyReservedMicros + keyHeld + amountMicros >
          funds.budgetMicros + marginMicros
      ) {
        return { ok: false, reason: "key_budget" };
      }
      const hold: Hold = {
        tenantId,
        apiKeyId,
        amountMicros,
        state: "reserved",
        expiresAt: request.expiresAt.getTime(),
      };
      this.#add(traceId, hold, tenant);
      tenant.reserved.set(traceId, hold);
      return { ok: true };
    }
    throw new Error(`Cannot reserve as the funds of tenant ${tenantId} kept changing`);
  }

  release(traceId: string): Promise<void> {
    const hold = this.#holds.get(traceId);
    if (hold?.state === "reserved") this.#drop(traceId, hold);
    return Promise.resolve();
  }

  // A hold that expired meanwhile is charged all the same.
  charge(charge: Charge): Promise<void> {
    const { traceId, tenantId, apiKeyId, costMicros } = charge;
    const hold = this.#holds.get(traceId);
    if (hold?.state === "charged") return Promise.resolve();
    if (hold) this.#drop(traceId, hold);
    const tenant = this.#tenant(tenantId);
    this.#add(traceId, {
      tenantId,
      apiKeyId,
      amountMicros: costMicros,
      state: "charged",
      expiresAt: Infinity,
    }, tenant);
    return Promise.resolve();
  }

  // The store's balance has each charge now: its hold goes. One settled again finds no hold.
  settled(entries: LedgerEntry[]): Promise<void> {
    for (const entry of entries) {
      this.#reads.delete(entry.tenantId);
      const hold = this.#holds.get(entry.traceId);
      if (!hold) continue;
      this.#drop(entry.traceId, hold);
      this.#tenant(hold.tenantId).settlements++;
    }
    return Promise.resolve();
  }

  // The balance is read from the store again at the next reservation.
  credited(tenantId: string): Promise<void> {
    this.#reads.delete(tenantId);
    return Promise.resolve();
  }

  budgetChanged(tenantId: string): Promise<void> {
    this.#reads.delete(tenantId);
    return Promise.resolve();
  }

  #cached(
    tenantId: string,
    apiKeyId: string,
    periods: PeriodStarts | undefined,
  ): AccountFunds | undefined {
    const cached = this.#reads.get(tenantId)?.get(apiKeyId);
    if (
      cached === undefined || performance.now() - cached.readAt >= this.#cacheMs ||
      !samePeriods(cached.periods, periods)
    ) {
      return undefined;
    }
    return cached.funds;
  }

  #remember(tenantId: string, apiKeyId: string, read: CachedFunds): void {
    let ofTenant = this.#reads.get(tenantId);
    if (ofTenant === undefined) {
      ofTenant = new Map();
      this.#reads.set(tenantId, ofTenant);
    }
    ofTenant.set(apiKeyId, read);
  }

  #tenant(tenantId: string): TenantHolds {
    let tenant = this.#tenants.get(tenantId);
    if (!tenant) {
      tenant = { held: 0, keyHeld: new Map(), reserved: new Map(), settlements: 0 };
      this.#tenants.set(tenantId, tenant);
    }
    return tenant;
  }

  #add(traceId: string, hold: Hold, tenant: TenantHolds): void {
    this.#holds.set(traceId, hold);
    tenant.held += hold.amountMicros;
    tenant.keyHeld.set(hold.apiKeyId, (tenant.keyHeld.get(hold.apiKeyId) ?? 0) + hold.amountMicros);
  }

  #drop(traceId: string, hold: Hold): void {
    const tenant = this.#tenant(hold.tenantId);
    this.#holds.delete(traceId);
    tenant.reserved.delete(traceId);
    tenant.held -= hold.amountMicros;
    const keyHeld = (tenant.keyHeld.get(hold.apiKeyId) ?? 0) - hold.amountMicros;
    if (keyHeld === 0) tenant.keyHeld.delete(hold.apiKeyId);
    else tenant.keyHeld.set(hold.apiKeyId, keyHeld);
  }

  // Reservations whose request died without giving them back (it cannot here but through a bug;
  // the store and Redis need this for crashed instances) are returned once they expire.
  #sweep(tenant: TenantHolds, now: number): void {
    let swept = 0;
    for (const [traceId, hold] of tenant.reserved) {
      if (hold.expiresAt > now || swept++ >= SWEEP_MAX) return;
      this.#drop(traceId, hold);
    }
  }
}

function samePeriods(a: PeriodStarts | undefined, b: PeriodStarts | undefined): boolean {
  return a === b ||
    (a !== undefined && b !== undefined && a.daily === b.daily && a.weekly === b.weekly &&
      a.monthly === b.monthly);
}
