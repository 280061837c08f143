// The queue's Lua scripts: each runs atomically, so a job is never in two lists nor in none.
// A job's JSON starts with `{"queue":"<name>"` or, waiting in `retry`, with
// `{"retryAt":<ms>,"queue":"<name>"` (see `encodeJob`), so that scripts read both without
// decoding (and never re-encode the caller's payload).
import { luaScript as script } from "../redis/mod.ts";

/**
 * Removes ARGV[1] from list KEYS[1] and, only when it was there, pushes ARGV[2] to KEYS[2] (to the
 * right end when ARGV[3] is "R"). Returns 1 when moved: a job a reaper took back is not also
 * retried, and a redrive by two operators at once runs the job once.
 */
export const MOVE_SCRIPT = script(`
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if ARGV[3] == 'R' then redis.call('RPUSH', KEYS[2], ARGV[2]) else redis.call('LPUSH', KEYS[2], ARGV[2]) end
return 1
`);

/**
 * Takes up to ARGV[1] jobs, oldest first, from queue KEYS[1] into processing list KEYS[2], in one
 * call: a busy worker pays one round trip per batch instead of one per job. Returns them.
 */
export const TAKE_SCRIPT = script(`
local taken = {}
for _ = 1, tonumber(ARGV[1]) do
  local raw = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not raw then break end
  taken[#taken + 1] = raw
end
return taken
`);

/** Acknowledges jobs ARGV[1..]: removes each from processing list KEYS[1]. */
export const ACK_SCRIPT = script(`
for i = 1, #ARGV do redis.call('LREM', KEYS[1], 1, ARGV[i]) end
return #ARGV
`);

/**
 * Moves the due jobs among the ARGV[3] oldest of `retry` (KEYS[1]) to their queue, ARGV[1] ..
 * name; ARGV[2] is now in ms. Returns how many moved.
 */
export const PROMOTE_SCRIPT = script(`
local now = tonumber(ARGV[2])
local moved = 0
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], -tonumber(ARGV[3]), -1)) do
  local at, queue = string.match(raw, '^{"retryAt":(%d+),"queue":"(%a+)"')
  if at and tonumber(at) <= now and redis.call('LREM', KEYS[1], 1, raw) == 1 then
    redis.call('LPUSH', ARGV[1] .. queue, raw)
    moved = moved + 1
  end
end
return moved
`);

/**
 * The reaper. KEYS[1] is the workers hash; ARGV[1] the key prefix, ARGV[2] now in ms, ARGV[3] how
 * long a dead worker stays listed. Without more arguments, moves the jobs of every worker whose
 * heartbeat expired from its processing list back to their queue (to the end taken next), and
 * forgets workers not seen for ARGV[3]; with worker ids in ARGV[4..], does so for them whatever
 * their heartbeat (a stopping instance hands its own jobs back). Returns how many jobs moved.
 */
export const REAP_SCRIPT = script(`
local prefix, now, forget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local forced = #ARGV > 3
local ids = {}
if forced then
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('HKEYS', KEYS[1])
end
local moved = 0
for _, id in ipairs(ids) do
  if forced or redis.call('EXISTS', prefix .. 'heartbeat:' .. id) == 0 then
    local processing = prefix .. 'processing:' .. id
    while true do
      local raw = redis.call('RPOP', processing)
      if not raw then break end
      local queue = string.match(raw, '"queue":"(%a+)"') or 'default'
      redis.call('RPUSH', prefix .. 'queue:' .. queue, raw)
      moved = moved + 1
    end
    if forced then
      redis.call('DEL', prefix .. 'heartbeat:' .. id)
    else
      local info = redis.call('HGET', KEYS[1], id)
      local seen = info and tonumber(string.match(info, '"lastSeenMs":(%d+)'))
      if not seen or now - seen > forget then redis.call('HDEL', KEYS[1], id) end
    end
  end
end
return moved
`);
