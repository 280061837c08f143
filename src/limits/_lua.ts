// The Redis side of the limiter: a script step and a script that mirror gcra.ts (see there for why a limit's
// state is "level:at" rather than a bare TAT). A script runs atomically, so a check sees and
// records every limit of a request with no other check in between, on any number of gateways.
import {
  type LuaScript,
  luaScript as script,
  type LuaStep,
  luaStep as step,
} from "../redis/mod.ts";
import { PERIOD_MS } from "./gcra.ts";

// Keys outlive a drained state by this much, so that a gateway whose clock runs a little ahead of
// the one that wrote the key never finds it gone while it still holds something.
const EXPIRY_MARGIN_MS = 1000;

// parse() is levelAt() of gcra.ts on a stored "level:at" (nil once the key expired), returning
// also the time to store with the level; write() stores a state that expires once drained.
const SHARED = `
local PERIOD = ${PERIOD_MS}
local function parse(raw, limit, now)
  if not raw then return 0, now end
  local sep = string.find(raw, ':', 1, true)
  local level, at = tonumber(string.sub(raw, 1, sep - 1)), tonumber(string.sub(raw, sep + 1))
  return math.max(0, level - limit * math.max(0, now - at)), math.max(at, now)
end
local function write(key, limit, level, at)
  if level > 0 then
    redis.call('SET', key, level .. ':' .. at, 'PX', math.ceil(level / limit) + ${EXPIRY_MARGIN_MS})
  else
    redis.call('DEL', key)
  end
end
`;

/**
 * gcraCheck() over every limit, recording in all only when all allow, as a step (see
 * runSteps()). KEYS[i]: limit i's state; ARGV[1]: now (ms); ARGV[2i], ARGV[2i+1]: limit i per
 * minute and the request's weight in it. Replies {remaining, resetMs, retryAfterMs} per limit,
 * flattened; a retry above 0 is a denial.
 */
export const CHECK_STEP: LuaStep = step(
  "limits",
  `${SHARED}
local now = tonumber(ARGV[1])
local limits, weights, levels, ats, rooms = {}, {}, {}, {}, {}
local allowed = true
local raws = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  limits[i], weights[i] = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  levels[i], ats[i] = parse(raws[i], limits[i], now)
  rooms[i] = (limits[i] - math.min(weights[i], limits[i])) * PERIOD
  if levels[i] > rooms[i] then allowed = false end
end
local out = {}
for i = 1, #KEYS do
  local limit, level, retry = limits[i], levels[i], 0
  if level > rooms[i] then
    retry = math.ceil((level - rooms[i]) / limit)
  elseif allowed then
    level = level + weights[i] * PERIOD
    levels[i] = level
  end
  out[3 * i - 2] = math.max(0, math.floor((limit * PERIOD - level) / PERIOD))
  out[3 * i - 1] = math.ceil(level / limit)
  out[3 * i] = retry
end
if not allowed then return out end
return out, function()
  for i = 1, #KEYS do
    if weights[i] > 0 then write(KEYS[i], limits[i], levels[i], ats[i]) end
  end
end
`,
);

/**
 * gcraSettle() over the token limits. KEYS[i]: limit i's state; ARGV[1]: now (ms); ARGV[2]:
 * tokens to add, negative to give back; ARGV[2 + i]: limit i per minute.
 */
export const SETTLE_SCRIPT: LuaScript = script(`${SHARED}
local now, delta = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 + i])
  local level, at = parse(redis.call('GET', KEYS[i]), limit, now)
  write(KEYS[i], limit, math.max(0, level + delta * PERIOD), at)
end
return 0
`);
