import { type LuaScript, luaScript, type RedisConnection, runScript } from "../redis/mod.ts";
import type { IdempotencyClaimResult, IdempotencyHold, IdempotencyKeyRef } from "../store/mod.ts";
import type { ClaimRequest, CompletedRecord, IdempotencyRecords } from "./types.ts";

/** What {@linkcode RedisIdempotencyRecords} is built from. */
export interface RedisIdempotencyRecordsOptions {
  /** The shared connection; never closed here. */
  redis: RedisConnection;
  /** Prefix of every key, e.g. `gw:`. */
  prefix: string;
  /** How long one call may take before it counts as failed. */
  timeoutMs: number;
}

// One hash per key, idem:{t:TENANT}:API_KEY:KEY, fields state (running or done), fp (the
// fingerprint), token (the holder's, while running) and answer (base64, when kept). Its TTL is
// the lease while running and the retention once done, so Redis itself frees a key whose holder
// died and forgets a record after its retention.
const CLAIM = luaScript(`
local found = redis.call('HMGET', KEYS[1], 'state', 'fp', 'answer')
if not found[1] then
  redis.call('HSET', KEYS[1], 'state', 'running', 'fp', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed'}
end
if found[2] ~= ARGV[1] then return {'mismatch'} end
if found[1] == 'running' then return {'running'} end
if not found[3] then return {'done'} end
return {'done', found[3]}
`);

// ARGV: token, then what the action needs. Only the holder's own running hold is acted on.
const HELD = `
local found = redis.call('HMGET', KEYS[1], 'state', 'token')
if found[1] ~= 'running' or found[2] ~= ARGV[1] then return 0 end
`;

const RENEW = luaScript(`${HELD}
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

const COMPLETE = luaScript(`${HELD}
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'done')
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'answer', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

const RELEASE = luaScript(`${HELD}
redis.call('DEL', KEYS[1])
return 1
`);

/** Idempotency keys in Redis, shared by every instance: one Lua script per step. */
export class RedisIdempotencyRecords implements IdempotencyRecords {
  readonly #redis: RedisConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(options: RedisIdempotencyRecordsOptions) {
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new RangeError(
        `Cannot create the idempotency records as 'timeoutMs' must be positive: current value is ${options.timeoutMs}`,
      );
    }
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.timeoutMs;
  }

  async claim(request: ClaimRequest): Promise<IdempotencyClaimResult> {
    const reply = await this.#run(CLAIM, request, [
      request.fingerprint,
      request.token,
      String(request.leaseMs),
    ]) as string[];
    switch (reply[0]) {
      case "claimed":
      case "running":
      case "mismatch":
        return { outcome: reply[0] };
      case "done":
        return { outcome: "done", answer: reply[1] ? Uint8Array.fromBase64(reply[1]) : null };
      default:
        throw new Error(`Cannot claim the idempotency key: unexpected reply ${reply[0]}`);
    }
  }

  async renew(hold: IdempotencyHold, leaseMs: number): Promise<boolean> {
    return await this.#run(RENEW, hold, [hold.token, String(leaseMs)]) === 1;
  }

  async complete(hold: IdempotencyHold, record: CompletedRecord): Promise<boolean> {
    const { answer, retentionMs } = record;
    return await this.#run(COMPLETE, hold, [
      hold.token,
      String(retentionMs),
      answer === null ? "0" : "1",
      answer === null ? "" : answer.toBase64(),
    ]) === 1;
  }

  async release(hold: IdempotencyHold): Promise<void> {
    await this.#run(RELEASE, hold, [hold.token]);
  }

  #run(script: LuaScript, ref: IdempotencyKeyRef, args: string[]) {
    const key = `${this.#prefix}idem:{t:${ref.tenantId}}:${ref.apiKeyId}:${ref.key}`;
    return runScript(this.#redis, script, [key], args, this.#timeoutMs);
  }
}
