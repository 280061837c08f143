import { randomId } from "../core/ids.ts";

/** How many audit records `listAudit` returns when the filter gives no limit. */
export const DEFAULT_AUDIT_LIMIT = 100;

/** A new tenant id. */
export function newTenantId(): string {
  return randomId("tnt");
}

/** A new API key id. */
export function newApiKeyId(): string {
  return randomId("key");
}

/** Throws a RangeError unless `value` is a safe integer, naming the parameter for the caller. */
export function assertSafeInteger(value: number, what: string, name: string): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be a safe integer: current value is ${value}`,
    );
  }
}

/** The audit limit to apply: the filter's, validated, or the default. */
export function auditLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_AUDIT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(
      `Cannot list audit records as 'limit' must be a positive integer: current value is ${limit}`,
    );
  }
  return limit;
}
