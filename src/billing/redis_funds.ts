import {
  type LuaScript,
  luaScript,
  luaStep,
  type RedisConnection,
  runScript,
  runSteps,
  type ScriptStep,
} from "../redis/mod.ts";
import { type LedgerEntry, type ReserveResult, reserveResultOf, type Store } from "../store/mod.ts";
import type { Charge, Funds, HoldRequest, ReservedWith } from "./funds.ts";

/** What {@linkcode RedisFunds} is built from. */
export interface RedisFundsOptions {
  /** The shared connection; never closed here. */
  redis: RedisConnection;
  /** Prefix of every key, e.g. `gateway:`. */
  prefix: string;
  /** The truth the counters are loaded from. */
  store: Pick<Store, "getTenant" | "listApiKeys" | "settledTraceIds">;
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
// id, amount, margin, now (ms), expires at (ms). Expired holds go whatever the outcome.
const RESERVE = luaStep(
  "reserve",
  `${SHARED}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[5], 'LIMIT', 0, 16)) do
  local hold = redis.call('HGET', KEYS[2], id)
  if hold then drop(id, hold) else redis.call('ZREM', KEYS[3], id) end
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'duplicate' end
local counters = redis.call('HMGET', KEYS[1], 'bal', 'k:' .. ARGV[2], 'held', 'kh:' .. ARGV[2])
local balance, budget = counters[1], counters[2]
if not balance or not budget then return 'load' end
local amount = tonumber(ARGV[3])
local margin = tonumber(ARGV[4])
if tonumber(balance) - tonumber(counters[3] or '0') - amount < -margin then
  return 'tenant_balance'
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
// "none"), then the trace ids of charges held that the store had settled before it was read: the
// balance read has them already, so their holds go. Settlements that came in while a value was
// missing are taken off it (twice at worst, if the store's answer had them too: never too much).
// Values already there stay: another instance loaded them first.
const LOAD = luaScript(`${SHARED}
if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  for i = 4, #ARGV do
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
if redis.call('HEXISTS', KEYS[1], 'k:' .. ARGV[2]) == 0 then
  redis.call('HSET', KEYS[1], 'k:' .. ARGV[2], ARGV[3])
  local missed = redis.call('HGET', KEYS[1], 'kp:' .. ARGV[2])
  if missed and ARGV[3] ~= 'none' then
    redis.call('HINCRBY', KEYS[1], 'k:' .. ARGV[2], integer(-tonumber(missed)))
  end
  redis.call('HDEL', KEYS[1], 'kp:' .. ARGV[2])
end
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

// ARGV: when a settled-while-reserved mark goes (ms), then pairs of trace id and cost. The store's
// balance has each charge now: so does the counter, and the hold goes. A hold still only reserved
// (its charge never reached Redis, or has yet to: a script Redis had to be sent again) is settled
// at the cost the store charged and leaves a mark, so that a late charge cannot hold it again. A
// settlement run again finds no hold, or the mark, and changes nothing. A counter not loaded
// notes what to take off the store's value when it is (see LOAD).
const SETTLED = luaScript(`${SHARED}
local ids, costs, seen = {}, {}, {}
for i = 2, #ARGV, 2 do
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
for key, amount in pairs(keyHeld) do
  redis.call('HINCRBY', KEYS[1], 'kh:' .. key, integer(-amount))
  local budget = redis.call('HGET', KEYS[1], 'k:' .. key)
  if not budget then
    redis.call('HINCRBY', KEYS[1], 'kp:' .. key, integer(keyCharged[key]))
  elseif budget ~= 'none' then
    redis.call('HINCRBY', KEYS[1], 'k:' .. key, integer(-keyCharged[key]))
  end
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

// ARGV: key id. Loaded again from the store at the key's next request.
const FORGET_BUDGET = luaScript(`
redis.call('HDEL', KEYS[1], 'k:' .. ARGV[1], 'kp:' .. ARGV[1])
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
        await this.#load(tenantId, apiKeyId);
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
  async settled(entries: LedgerEntry[]): Promise<void> {
    const byTenant = Map.groupBy(entries, (entry) => entry.tenantId);
    await Promise.all(
      [...byTenant].map(([tenantId, ofTenant]) =>
        this.#run(SETTLED, tenantId, [
          String(Date.now() + LATE_CHARGE_MS),
          ...ofTenant.flatMap((entry) => [entry.traceId, String(entry.costMicros)]),
        ])
      ),
    );
  }

  async credited(tenantId: string, amountMicros: number): Promise<void> {
    await this.#run(CREDIT, tenantId, [String(amountMicros)]);
  }

  async budgetChanged(tenantId: string, apiKeyId: string): Promise<void> {
    await this.#run(FORGET_BUDGET, tenantId, [apiKeyId]);
  }

  /**
   * Reads the tenant's balance and the key's budget from the store into the counters. Which held
   * charges the store has settled is asked first: any settled later is not in that answer but
   * may be in the balance read after it, and is then taken off twice, never left out.
   */
  async #load(tenantId: string, apiKeyId: string): Promise<void> {
    const { store } = this.#options;
    const charged = (await this.#run(CHARGED, tenantId, [])) as string[];
    const settled = await store.settledTraceIds(charged);
    const [tenant, keys] = await Promise.all([
      store.getTenant(tenantId),
      store.listApiKeys(tenantId),
    ]);
    if (!tenant) throw new Error(`Cannot reserve as tenant ${tenantId} does not exist`);
    const key = keys.find((each) => each.id === apiKeyId);
    if (!key) {
      throw new Error(`Cannot reserve as API key ${apiKeyId} does not exist or is not of tenant`);
    }
    // Reservations still open in the store (from before Redis held them) count as spent.
    const balance = tenant.balanceMicros - tenant.reservedMicros;
    const budget = key.budgetMicros === null
      ? "none"
      : String(key.budgetMicros - key.spentMicros - key.reservedMicros);
    await this.#run(LOAD, tenantId, [String(balance), apiKeyId, budget, ...settled]);
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
