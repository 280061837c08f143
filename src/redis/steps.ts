import type { RedisConnection } from "./client.ts";
import { type LuaScript, luaScript, runScript } from "./script.ts";

/**
 * A check that records only when allowed, as Lua that can run alone or together with other
 * steps in one script. `body` is the body of a Lua function of `(KEYS, ARGV)`, its own keys and
 * arguments, that returns its reply and, when it allows, a function that records it. It may
 * write before deciding only what is right to write whatever the outcome (such as dropping
 * expired entries).
 */
export interface LuaStep {
  readonly name: string;
  readonly body: string;
}

/** Names a step; the name tells scripts made of different steps apart. */
export function luaStep(name: string, body: string): LuaStep {
  return { name, body };
}

/** A step to run, with its keys and arguments, and how to read its reply. */
export interface ScriptStep<T> {
  lua: LuaStep;
  keys: string[];
  args: string[];
  decode(reply: unknown): T;
}

/** What a run of steps answered. */
export interface StepsReply {
  /** The index of the step that refused (nothing was recorded then), or -1 when all allowed. */
  refused: number;
  /** Each step's reply, up to and including the one that refused. */
  replies: unknown[];
}

/**
 * Runs `steps` in one script, in order, and records all of them only when all allow: one round
 * trip and one atomic decision for checks that belong to different services, such as a request's
 * reservation and its rate limits. A step's reply describes its outcome as if recorded. Every key
 * must be on one Redis Cluster slot (the callers share one hash tag per tenant).
 */
export async function runSteps(
  redis: RedisConnection,
  steps: ScriptStep<unknown>[],
  deadlineMs: number,
): Promise<StepsReply> {
  const counts: string[] = [];
  const keys: string[] = [];
  const args: string[] = [];
  for (const step of steps) {
    counts.push(String(step.keys.length), String(step.args.length));
    keys.push(...step.keys);
    args.push(...step.args);
  }
  const script = scriptOf(steps.map((step) => step.lua));
  const reply = await runScript(redis, script, keys, [...counts, ...args], deadlineMs);
  if (!Array.isArray(reply) || typeof reply[0] !== "number") {
    throw new Error(`Cannot read the reply of Redis steps: ${JSON.stringify(reply)}`);
  }
  return { refused: reply[0] - 1, replies: reply.slice(1) };
}

const scripts = new Map<string, LuaScript>();

function scriptOf(steps: LuaStep[]): LuaScript {
  const id = steps.map((step) => step.name).join("+");
  let script = scripts.get(id);
  if (script === undefined) {
    script = luaScript(composed(steps));
    scripts.set(id, script);
  }
  return script;
}

// ARGV starts with each step's key count and argument count; the steps' own follow, in order.
function composed(steps: LuaStep[]): string {
  const functions = steps.map((step) => `function(KEYS, ARGV)\n${step.body}\nend`);
  return `local steps = {\n${functions.join(",\n")}\n}
local n = #steps
local replies, records = {}, {}
local k, a = 0, 2 * n
for i = 1, n do
  local kc, ac = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local reply, record = steps[i]({unpack(KEYS, k + 1, k + kc)}, {unpack(ARGV, a + 1, a + ac)})
  k, a = k + kc, a + ac
  replies[i] = reply
  if not record then return {i, unpack(replies)} end
  records[i] = record
end
for i = 1, n do records[i]() end
return {0, unpack(replies)}
`;
}
