import {
  type LuaScript,
  luaScript,
  luaStep,
  type RedisConnection,
  runScript,
  runSteps,
  type ScriptStep,
} from "../redis/mod.ts";
import { periodsHolding, type PeriodStarts } from "../core/mod.ts";
import {
  type AccountFunds,
  type LedgerEntry,
  type ReserveResult,
  reserveResultOf,
  type Store,
} from "../store/mod.ts";
import type { Charge, Funds, HoldRequest, ReservedWith } from "./funds.ts";

/** What {@linkcode RedisFunds} is built from. */
export interface RedisFundsOptions {
  /** The shared connection; never closed here. */
  redis: RedisConnection;
  /** Prefix of every key, e.g. `gateway:`. */
  prefix: string;
  /** The truth the counters are loaded from. */
  store: Pick<Store, "fundsOf" | "settledTraceIds">;
  /** How long a Redis call may take before the request is refused instead. */
  timeoutMs: number;
}

// Per tenant, under one hash tag so that every script stays on one Redis Cluster slot:
//   funds:{t:ID}:counters  hash  bal      the balance as the store has it (less open charges)
//                                held     the sum of every hold of the tenant
//                                k:KEY    the key's budget left (budget − spent), or "none"
//                                kh:KEY   the sum of the key's holds
//                                pend     settled while bal was not loaded: taken off at load
//                                kp:KEY   the same for the key's budget
//                                kw:KEY   the key budget's period: daily, weekly, monthly or
//                                         lifetime
//                                ks:KEY   the start (ms) of the period k:KEY counts down in; a
//                                         reservation in a later period drops k:KEY and kp:KEY
//                                         and moves ks:KEY on, and the store's count of the new
//                                         period is loaded: a rollover is a new count, once
//                                tb tp tw ts  the same four for the tenant's budget
//   funds:{t:ID}:holds     hash  trace id -> "amount|state|key"; state r (reserved: the worst
//                                case of a request in flight), c (charged: its cost, until the
//                                billing job has settled it in the store) or s (settled while
//                                only reserved, amount 0: a charge arriving late is ignored)
//   funds:{t:ID}:expiry    zset  reserved and settled-while-reserved holds by the time they go
const SHARED = `
-- A number as HINCRBY takes it: Lua would write one of over 14 digits as 1e+15.
local function integer(number)
  return string.format('%d', number)
end
local function parse(hold)
  local amount, state, key = string.match(hold, '^(%d+)|(%a)|(.*)$')
  return tonumber(amount), state, key
end
-- The start of the period of a kind among the daily, weekly and monthly starts given.
local function startOf(kind, starts)
  if kind == 'daily' then return starts[1] end
  if kind == 'weekly' then return starts[2] end
  if kind == 'monthly' then return starts[3] end
  return '0'
end
-- A settlement's charge goes to a budget counting down in the period it was settled in; one
-- counted in another period is the store's alone. A budget not loaded notes it for its load.
local function spend(budget, pending, kind, start, starts, amount)
  local values = redis.call('HMGET', KEYS[1], budget, kind, start)
  if values[2] and startOf(values[2], starts) ~= values[3] then return end
  if not values[1] then
    redis.call('HINCRBY', KEYS[1], pending, integer(amount))
  elseif values[1] ~= 'none' then
    redis.call('HINCRBY', KEYS[1], budget, integer(-amount))
  end
end
local function drop(id, hold)
  local amount, state, key = parse(hold)
  redis.call('HINCRBY', KEYS[1], 'held', integer(-amount))
  redis.call('HINCRBY', KEYS[1], 'kh:' .. key, integer(-amount))
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  return amount, state, key
end
`;

// A step (see runSteps), so that another check can run in the same script. ARGV: trace id, key
// id, amount, margin, now (ms), expires at (ms), then the starts of the day, week and month now.
// Expired holds go whatever the outcome.
const RESERVE = luaStep(
  "reserve",
  `${SHARED}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[5], 'LIMIT', 0, 16)) do
  local hold = redis.call('HGET', KEYS[2], id)
  if hold then drop(id, hold) else redis.call('ZREM', KEYS[3], id) end
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'duplicate' end
local key = ARGV[2]
local counters = redis.call('HMGET', KEYS[1], 'bal', 'k:' .. key, 'held', 'kh:' .. key,
  'kw:' .. key, 'ks:' .. key, 'tb', 'tw', 'ts')
local starts = { ARGV[7], ARGV[8], ARGV[9] }
-- A budget whose period is over counts down from the store's count of the new one.
local function rolled(kind, start, budget, pending, startField)
  if not kind or startOf(kind, starts) == start then return false end
  redis.call('HDEL', KEYS[1], budget, pending)
  redis.call('HSET', KEYS[1], startField, startOf(kind, starts))
  return true
end
local keyRolled = rolled(counters[5], counters[6], 'k:' .. key, 'kp:' .. key, 'ks:' .. key)
local tenantRolled = rolled(counters[8], counters[9], 'tb', 'tp', 'ts')
local balance, budget, tenantBudget = counters[1], counters[2], counters[7]
if keyRolled or tenantRolled or not balance or not budget or not tenantBudget then
  return 'load'
end
local amount = tonumber(ARGV[3])
local margin = tonumber(ARGV[4])
local held = tonumber(counters[3] or '0')
if tonumber(balance) - held - amount < -margin then
  return 'tenant_balance'
end
if tenantBudget ~= 'none' and held + amount > tonumber(tenantBudget) + margin then
  return 'tenant_budget'
end
if budget ~= 'none' and tonumber(counters[4] or '0') + amount > tonumber(budget) + margin then
  return 'key_budget'
end
return 'ok', function()
  redis.call('HINCRBY', KEYS[1], 'held', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'kh:' .. ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '|r|' .. ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
end
`,
);

// ARGV: the balance read from the store, key id, the key's budget left read from the store (or
// "none"), its period and the period's start, the tenant's budget left (or "none"), its period and
// start, then the trace ids of charges held that the store had settled before it was read: the
// balance read has them already, so their holds go. Settlements that came in while a value was
// missing are taken off it (twice at worst, if the store's answer had them too: never too much).
// Values already there stay: another instance loaded them first; so does a budget that another
// instance has moved on to another period meanwhile (the next reservation loads again).
const LOAD = luaScript(`${SHARED}
local function load(budget, pending, kind, start, value, period, periodStart)
  if redis.call('HEXISTS', KEYS[1], budget) == 1 then return end
  local current = redis.call('HMGET', KEYS[1], kind, start)
  if current[2] and current[1] == period and current[2] ~= periodStart then return end
  redis.call('HSET', KEYS[1], budget, value, kind, period, start, periodStart)
  local missed = redis.call('HGET', KEYS[1], pending)
  if missed and value ~= 'none' then
    redis.call('HINCRBY', KEYS[1], budget, integer(-tonumber(missed)))
  end
  redis.call('HDEL', KEYS[1], pending)
end
if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  for i = 9, #ARGV do
    local hold = redis.call('HGET', KEYS[2], ARGV[i])
    if hold then drop(ARGV[i], hold) end
  end
  -- Stored as the caller's digits and changed with HINCRBY: a Lua number would be written
  -- as 1e+15 past 14 digits, which HINCRBY then refuses.
  redis.call('HSET', KEYS[1], 'bal', ARGV[1])
  local missed = redis.call('HGET', KEYS[1], 'pend')
  if missed then redis.call('HINCRBY', KEYS[1], 'bal', integer(-tonumber(missed))) end
  redis.call('HDEL', KEYS[1], 'pend')
end
local key = ARGV[2]
load('k:' .. key, 'kp:' .. key, 'kw:' .. key, 'ks:' .. key, ARGV[3], ARGV[4], ARGV[5])
load('tb', 'tp', 'tw', 'ts', ARGV[6], ARGV[7], ARGV[8])
return 'ok'
`);

// The trace ids of the charges held.
const CHARGED = luaScript(`
local charged = {}
local holds = redis.call('HGETALL', KEYS[2])
for i = 1, #holds, 2 do
  if string.find(holds[i + 1], '|c|', 1, true) then table.insert(charged, holds[i]) end
end
return charged
`);

// ARGV: trace id, key id, cost. A hold that expired meanwhile is charged all the same. The hold
// is replaced in place: the counters move by the difference.
const CHARGE = luaScript(`${SHARED}
local cost = tonumber(ARGV[3])
local hold = redis.call('HGET', KEYS[2], ARGV[1])
local tenantHeld, keyHeld = cost, cost
if hold then
  local amount, state, key = parse(hold)
  if state ~= 'r' then return 0 end
  redis.call('ZREM', KEYS[3], ARGV[1])
  tenantHeld = cost - amount
  if key == ARGV[2] then
    keyHeld = cost - amount
  else
    redis.call('HINCRBY', KEYS[1], 'kh:' .. key, integer(-amount))
  end
end
redis.call('HINCRBY', KEYS[1], 'held', integer(tenantHeld))
redis.call('HINCRBY', KEYS[1], 'kh:' .. ARGV[2], integer(keyHeld))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '|c|' .. ARGV[2])
return 1
`);

// ARGV: trace id. Only a reservation goes back; a charge waits for its settlement.
const RELEASE = luaScript(`${SHARED}
local hold = redis.call('HGET', KEYS[2], ARGV[1])
if not hold then return 0 end
local _, state = parse(hold)
if state ~= 'r' then return 0 end
drop(ARGV[1], hold)
return 1
`);

// ARGV: when a settled-while-reserved mark goes (ms), the starts of the day, week and month the
// store counted the costs in, then pairs of trace id and cost. The store's
// balance has each charge now: so does the counter, and the hold goes. A hold still only reserved
// (its charge never reached Redis, or has yet to: a script Redis had to be sent again) is settled
// at the cost the store charged and leaves a mark, so that a late charge cannot hold it again. A
// settlement run again finds no hold, or the mark, and changes nothing. A counter not loaded
// notes what to take off the store's value when it is (see LOAD).
const SETTLED = luaScript(`${SHARED}
local ids, costs, seen = {}, {}, {}
local starts = { ARGV[2], ARGV[3], ARGV[4] }
for i = 5, #ARGV, 2 do
  if not seen[ARGV[i]] then
    seen[ARGV[i]] = true
    ids[#ids + 1] = ARGV[i]
    costs[#costs + 1] = tonumber(ARGV[i + 1])
  end
end
local holds = redis.call('HMGET', KEYS[2], unpack(ids))
local dropped, marked = {}, 0
local held, charged, keyHeld, keyCharged = 0, 0, {}, {}
for n = 1, #ids do
  local amount, state, key
  if holds[n] then amount, state, key = parse(holds[n]) end
  if state == 'c' or state == 'r' then
    local cost = amount
    if state == 'c' then
      dropped[#dropped + 1] = ids[n]
    else
      redis.call('HSET', KEYS[2], ids[n], '0|s|' .. key)
      redis.call('ZADD', KEYS[3], ARGV[1], ids[n])
      marked = marked + 1
      cost = costs[n]
    end
    held = held + amount
    charged = charged + cost
    keyHeld[key] = (keyHeld[key] or 0) + amount
    keyCharged[key] = (keyCharged[key] or 0) + cost
  end
end
if #dropped + marked == 0 then return 0 end
if #dropped > 0 then redis.call('HDEL', KEYS[2], unpack(dropped)) end
redis.call('HINCRBY', KEYS[1], 'held', integer(-held))
if redis.call('HEXISTS', KEYS[1], 'bal') == 1 then
  redis.call('HINCRBY', KEYS[1], 'bal', integer(-charged))
else
  redis.call('HINCRBY', KEYS[1], 'pend', integer(charged))
end
spend('tb', 'tp', 'tw', 'ts', starts, charged)
for key, amount in pairs(keyHeld) do
  redis.call('HINCRBY', KEYS[1], 'kh:' .. key, integer(-amount))
  spend('k:' .. key, 'kp:' .. key, 'kw:' .. key, 'ks:' .. key, starts, keyCharged[key])
end
return #dropped + marked
`);

// ARGV: amount. A balance not loaded yet is read from the store, top-up included.
const CREDIT = luaScript(`
if redis.call('HEXISTS', KEYS[1], 'bal') == 1 then
  redis.call('HINCRBY', KEYS[1], 'bal', ARGV[1])
end
return 1
`);

// ARGV: key id, or none for the tenant's budget. Loaded again from the store at the next request.
const FORGET_BUDGET = luaScript(`
if ARGV[1] then
  redis.call('HDEL', KEYS[1], 'k:' .. ARGV[1], 'kp:' .. ARGV[1], 'kw:' .. ARGV[1], 'ks:' .. ARGV[1])
else
  redis.call('HDEL', KEYS[1], 'tb', 'tp', 'tw', 'ts')
end
return 1
`);

const MAX_LOADS = 2;
// How long a settlement's mark waits for a charge sent before it but run after it: far longer
// than the round trip of a script sent again after NOSCRIPT.
const LATE_CHARGE_MS = 60_000;

/**
 * Reservations held by counters in Redis, in front of the store: one Lua script per request
 * instead of a database commit, so the hot path never waits on a disk or a row lock. The counters
 * are loaded from the store at a tenant's first request (and again after Redis lost them); the
 * billing job settles each charge in the store and then here, so that balance and ledger in the
 * store remain the truth. On any number of instances sharing the Redis, a tenant's balance less
 * its holds never goes below minus the margin.
 */
export class RedisFunds implements Funds {
  readonly #options: RedisFundsOptions;

  constructor(options: RedisFundsOptions) {
    if (!(options.timeoutMs > 0)) {
      throw new RangeError(
        `Cannot create Redis funds as 'timeoutMs' must be positive: current value is ${options.timeoutMs}`,
      );
    }
    this.#options = options;
  }

  async reserve(request: HoldRequest): Promise<ReserveResult> {
    return (await this.#reserve(request, [])).reserved;
  }

  /** Reserves and runs `step` in the same script: both are recorded, or neither. */
  async reserveWith<T>(request: HoldRequest, step: ScriptStep<T>): Promise<ReservedWith<T>> {
    const { reserved, replies, refused } = await this.#reserve(request, [step]);
    const held = reserved.ok && refused < 0;
    return replies.length > 1
      ? { reserved, alongside: step.decode(replies[1]), held }
      : { reserved, held };
  }

  async #reserve(
    request: HoldRequest,
    alongside: ScriptStep<unknown>[],
  ): Promise<{ reserved: ReserveResult; replies: unknown[]; refused: number }> {
    const { traceId, tenantId, apiKeyId, amountMicros, marginMicros, expiresAt } = request;
    const periods = request.periods ?? periodsHolding(Date.now(), "UTC");
    // A hold catches a trace id still in flight; once settled, only the ledger knows it.
    if (request.clientTraceId) {
      const settled = await this.#options.store.settledTraceIds([traceId]);
      if (settled.length > 0) {
        return { reserved: { ok: false, reason: "duplicate" }, replies: [], refused: 0 };
      }
    }
    const reserve: ScriptStep<unknown> = {
      lua: RESERVE,
      keys: this.#keys(tenantId),
      args: [
        traceId,
        apiKeyId,
        String(amountMicros),
        String(marginMicros),
        String(Date.now()),
        String(expiresAt.getTime()),
        ...startsOf(periods),
      ],
      decode: (reply) => reply,
    };
    for (let load = 0; load <= MAX_LOADS; load++) {
      const { replies, refused } = await runSteps(
        this.#options.redis,
        [reserve, ...alongside],
        this.#options.timeoutMs,
      );
      const outcome = replies[0];
      if (outcome === "load") {
        await this.#load(tenantId, apiKeyId, periods);
        continue;
      }
      const reserved = reserveResultOf(outcome);
      if (!reserved) throw new Error(`Cannot reserve as Redis answered '${outcome}'`);
      return { reserved, replies, refused };
    }
    throw new Error(
      `Cannot reserve as the funds of tenant ${tenantId} did not stay loaded in Redis`,
    );
  }

  async release(traceId: string, tenantId: string): Promise<void> {
    await this.#run(RELEASE, tenantId, [traceId]);
  }

  async charge(charge: Charge): Promise<void> {
    await this.#run(CHARGE, charge.tenantId, [
      charge.traceId,
      charge.apiKeyId,
      String(charge.costMicros),
    ]);
  }

  // One call per tenant, as each tenant's counters are under their own hash tag.
  async settled(entries: LedgerEntry[], periods?: PeriodStarts): Promise<void> {
    const byTenant = Map.groupBy(entries, (entry) => entry.tenantId);
    const starts = startsOf(periods ?? periodsHolding(Date.now(), "UTC"));
    await Promise.all(
      [...byTenant].map(([tenantId, ofTenant]) =>
        this.#run(SETTLED, tenantId, [
          String(Date.now() + LATE_CHARGE_MS),
          ...starts,
          ...ofTenant.flatMap((entry) => [entry.traceId, String(entry.costMicros)]),
        ])
      ),
    );
  }

  async credited(tenantId: string, amountMicros: number): Promise<void> {
    await this.#run(CREDIT, tenantId, [String(amountMicros)]);
  }

  async budgetChanged(tenantId: string, apiKeyId?: string): Promise<void> {
    await this.#run(FORGET_BUDGET, tenantId, apiKeyId === undefined ? [] : [apiKeyId]);
  }

  /**
   * Reads the tenant's balance and the key's budget from the store into the counters. Which held
   * charges the store has settled is asked first: any settled later is not in that answer but
   * may be in the balance read after it, and is then taken off twice, never left out.
   */
  async #load(tenantId: string, apiKeyId: string, periods: PeriodStarts): Promise<void> {
    const { store } = this.#options;
    const charged = (await this.#run(CHARGED, tenantId, [])) as string[];
    const settled = await store.settledTraceIds(charged);
    const funds = await store.fundsOf(tenantId, apiKeyId, periods);
    if (!funds) {
      throw new Error(
        `Cannot reserve as tenant ${tenantId} or its API key ${apiKeyId} does not exist`,
      );
    }
    // Reservations still open in the store (from before Redis held them) count as spent.
    const balance = funds.balanceMicros - funds.reservedMicros;
    const left = (budget: number | null, spent: number, reserved: number) =>
      budget === null ? "none" : String(budget - spent - reserved);
    await this.#run(LOAD, tenantId, [
      String(balance),
      apiKeyId,
      left(funds.budgetMicros, funds.spentMicros, funds.keyReservedMicros),
      ...windowOf(funds.budgetPeriod, periods),
      left(funds.tenantBudgetMicros, funds.tenantSpentMicros, funds.reservedMicros),
      ...windowOf(funds.tenantBudgetPeriod, periods),
      ...settled,
    ]);
  }

  #run(script: LuaScript, tenantId: string, args: string[]): Promise<unknown> {
    return runScript(
      this.#options.redis,
      script,
      this.#keys(tenantId),
      args,
      this.#options.timeoutMs,
    );
  }

  #keys(tenantId: string): string[] {
    const base = `${this.#options.prefix}funds:{t:${tenantId}}:`;
    return [`${base}counters`, `${base}holds`, `${base}expiry`];
  }
}

function startsOf(periods: PeriodStarts): string[] {
  return [String(periods.daily), String(periods.weekly), String(periods.monthly)];
}

// A budget's period and its start as the counters name them.
function windowOf(period: AccountFunds["budgetPeriod"], periods: PeriodStarts): [string, string] {
  return period === null ? ["lifetime", "0"] : [period, String(periods[period])];
}
