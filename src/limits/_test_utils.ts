// What the limiter tests share: a clock they move by hand, a logger that keeps its lines, subjects,
// and Redis. Redis is required, not optional, so that an unreachable server fails the tests; each
// test gets its own key prefix and removes its keys afterwards.
import type { LimitSubject } from "./types.ts";

/** A clock that stands still until advanced. */
export interface FakeClock {
  now: () => number;
  advance(ms: number): void;
}

/** A {@linkcode FakeClock} starting at a realistic epoch time. */
export function fakeClock(start = 1_700_000_000_000): FakeClock {
  let time = start;
  return { now: () => time, advance: (ms) => time += ms };
}

/** A subject with the given limits, of a tenant and key unique to the test unless named. */
export function subject(
  limits: Partial<Pick<LimitSubject, "tenant" | "key">>,
  ids: { tenantId?: string; apiKeyId?: string } = {},
): LimitSubject {
  return {
    tenantId: ids.tenantId ?? `ten_${crypto.randomUUID()}`,
    apiKeyId: ids.apiKeyId ?? `key_${crypto.randomUUID()}`,
    tenant: limits.tenant ?? {},
    key: limits.key ?? {},
  };
}

export {
  type LoggedLine,
  openTestRedis,
  recordingLogger,
  REDIS_URL,
  type TestRedis,
} from "../../tests/redis_testing.ts";
