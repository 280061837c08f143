/**
 * @module
 * Rate limits per API key and per tenant, in requests and tokens per minute, by GCRA: one Lua
 * script call per request on Redis (shared by every instance), the same math in memory for a
 * single instance or while Redis is away, and OpenAI's `x-ratelimit-*` headers.
 */
export type {
  LimitKind,
  LimitScope,
  LimitSubject,
  RateLimitDecision,
  RateLimiter,
  RateLimitState,
} from "./types.ts";
export { MemoryRateLimiter, type MemoryRateLimiterOptions } from "./memory.ts";
export { RedisRateLimiter, type RedisRateLimiterOptions } from "./redis.ts";
export {
  FailoverRateLimiter,
  type FailoverRateLimiterOptions,
  type RedisFailurePolicy,
} from "./failover.ts";
export { anthropicRateLimitHeaders, rateLimitHeaders } from "./headers.ts";
