import { createHash } from "node:crypto";
import { badRequest } from "../core/mod.ts";

/** A key of 1 to 255 visible ASCII characters: a UUID, a ULID, base64 and the like all fit. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * The `Idempotency-Key` header's value, or undefined when the request has none; a 400 when it is
 * empty, too long or holds other characters.
 */
export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (IDEMPOTENCY_KEY_PATTERN.test(value)) return value;
  throw badRequest(
    "The Idempotency-Key header must be 1 to 255 visible ASCII characters (no spaces), such as a UUID",
    "invalid_idempotency_key",
  );
}

/** SHA-256 (hex) of the method, path with query, and body: what makes two requests the same. */
export function fingerprintOf(method: string, pathAndQuery: string, body: Uint8Array): string {
  return createHash("sha256").update(`${method.toUpperCase()} ${pathAndQuery}\n`).update(body)
    .digest("hex");
}
