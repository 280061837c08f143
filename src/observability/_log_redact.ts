/**
 * Turns the fields of a log record into plain JSON-safe data with every secret replaced, so that
 * no formatter can print an API key, a password or a bearer token, whatever a caller passed.
 */

/** What a secret value is replaced with. */
export const REDACTED = "[REDACTED]";

// A name is secret when one of these words appears anywhere in it ("signing_secret",
// "client_secret_hash", "set-cookie")...
const SECRET_ANYWHERE = new Set([
  "authorization",
  "apikey",
  "cookie",
  "credential",
  "credentials",
  "passphrase",
  "passwd",
  "password",
  "secret",
]);
// ...or when it ends with one of these: "api_key" and "access_token" are secret, while
// "api_key_id", "key_prefix", "tokens" and "max_tokens" are the ids and counts we must keep.
const SECRET_LAST = new Set(["auth", "jwt", "key", "pwd", "token"]);

const secretNames = new Map<string, boolean>();

/** Whether a field named `name` holds a secret, e.g. `apiKey`, `x-api-key`, `Authorization`. */
export function isSecretKey(name: string): boolean {
  let secret = secretNames.get(name);
  if (secret !== undefined) return secret;
  const words = name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().split(/[^a-z0-9]+/)
    .filter((word) => word.length > 0);
  secret = words.some((word) => SECRET_ANYWHERE.has(word)) ||
    (words.length > 0 && SECRET_LAST.has(words[words.length - 1]));
  // Field names come from code, so the cache stays small; the bound only guards against
  // callers that use data (say, header names from a request) as field names.
  if (secretNames.size >= 2048) secretNames.clear();
  secretNames.set(name, secret);
  return secret;
}

// The safety net for secrets inside free text, such as an upstream error message that echoes
// the request: bearer credentials, OpenAI-style keys, and passwords in URLs.
const SECRET_TEXT =
  /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+|\bsk-[A-Za-z0-9_-]{8,}|\bsk_[A-Za-z0-9]{16,}|(?<=[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+(?=@)/gi;

const MIGHT_HOLD_SECRET = /sk[-_]|bearer|:\/\//i;

/** `text` with bearer tokens, `sk-...` keys and URL passwords replaced by `[REDACTED]`. */
export function scrubString(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.replaceAll(secret, REDACTED);
  }
  // Almost every logged string (ids, paths, model names) has none of these markers; a plain scan
  // for them is far cheaper than the full pattern with its lookbehind.
  if (!MIGHT_HOLD_SECRET.test(out)) return out;
  return out.replace(
    SECRET_TEXT,
    (_match, scheme: string | undefined) => scheme ? `${scheme} ${REDACTED}` : REDACTED,
  );
}

const knownSecrets = new Set<string>();
const MIN_KNOWN_SECRET_LENGTH = 8;

/**
 * Redacts these exact values wherever they appear in a logged string: the gateway's own secrets
 * (admin token, upstream keys), which may have any shape. Values too short to be a real secret
 * are ignored, so they cannot blank out ordinary words.
 */
export function addKnownSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    if (value && value.length >= MIN_KNOWN_SECRET_LENGTH) knownSecrets.add(value);
  }
}

/** How far {@linkcode sanitizeFields} goes. */
export interface SanitizeOptions {
  /** Include `stack` in serialized errors (only when the configured level is DEBUG). */
  stack: boolean;
}

const MAX_DEPTH = 8;

/** A copy of `fields` that is plain JSON-safe data with every secret replaced. */
export function sanitizeFields(
  fields: Record<string, unknown>,
  options: SanitizeOptions,
): Record<string, unknown> {
  return sanitizeObject(fields, options, 0, new WeakSet());
}

function sanitizeObject(
  object: object,
  options: SanitizeOptions,
  depth: number,
  seen: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value === undefined || typeof value === "function" || typeof value === "symbol") continue;
    out[key] = isSecretKey(key) ? REDACTED : sanitize(value, options, depth + 1, seen);
  }
  return out;
}

function sanitize(
  value: unknown,
  options: SanitizeOptions,
  depth: number,
  seen: WeakSet<object>,
): unknown {
  switch (typeof value) {
    case "string":
      return scrubString(value);
    case "number":
      // JSON has no NaN or Infinity; print them rather than turn them into null.
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "bigint":
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    case "object":
      break;
    default:
      return value === undefined ? null : String(value);
  }
  if (value === null) return null;
  if (depth > MAX_DEPTH) return "[Truncated]";
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  try {
    return sanitizeComposite(value, options, depth, seen);
  } finally {
    // Only ancestors count as circular: the same object twice side by side is printed twice.
    seen.delete(value);
  }
}

function sanitizeComposite(
  value: object,
  options: SanitizeOptions,
  depth: number,
  seen: WeakSet<object>,
): unknown {
  if (value instanceof Error) return sanitizeError(value, options, depth, seen);
  if (Array.isArray(value)) return value.map((item) => sanitize(item, options, depth + 1, seen));
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  // Headers and Maps keep their entries out of Object.entries; their names still decide.
  if (value instanceof Headers || value instanceof Map) {
    return sanitizeObject(Object.fromEntries(value.entries()), options, depth, seen);
  }
  if (value instanceof Set) return [...value].map((item) => sanitize(item, options, depth, seen));
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return sanitize(toJSON.call(value), options, depth, seen);
  return sanitizeObject(value, options, depth, seen);
}

function sanitizeError(
  error: Error,
  options: SanitizeOptions,
  depth: number,
  seen: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: scrubString(error.message) };
  // Codes and statuses say which failure it was; other own properties may hold a whole request.
  const { code, status } = error as { code?: unknown; status?: unknown };
  if (typeof code === "string" || typeof code === "number") out.code = code;
  if (typeof status === "number") out.status = status;
  if (error.cause !== undefined) out.cause = sanitize(error.cause, options, depth + 1, seen);
  if (options.stack && error.stack) out.stack = scrubString(error.stack);
  return out;
}
