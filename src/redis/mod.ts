/**
 * @module
 * The Redis client: one resilient connection shared by the services that need Redis.
 */
export {
  closeRedis,
  connectRedis,
  type ConnectRedisOptions,
  pingRedis,
  type RedisConnection,
} from "./client.ts";
export { type LuaScript, luaScript, runScript, withDeadline } from "./script.ts";
export { type LuaStep, luaStep, runSteps, type ScriptStep, type StepsReply } from "./steps.ts";
