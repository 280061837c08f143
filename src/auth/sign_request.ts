/**
 * Signs requests to the gateway for API keys that require signatures. This file stands alone:
 * copy it into a client project (Deno, Node 20 or later, browsers, workers); it needs only Web
 * Crypto.
 *
 * A signed request carries, besides `Authorization: Bearer <key>`, the headers
 * `X-Timestamp` (Unix seconds), `X-Nonce` (16 to 64 characters of `A-Za-z0-9_-`, new for every
 * request) and `X-Signature`: the lowercase hex HMAC-SHA256, keyed with the UTF-8 bytes of the
 * key's signing secret, of
 *
 *     METHOD + "\n" + PATH_AND_QUERY + "\n" + TIMESTAMP + "\n" + NONCE + "\n" + hex(SHA-256(body))
 *
 * where PATH_AND_QUERY is the URL's path and query string exactly as sent (no scheme, host or
 * fragment), and the body is the exact bytes sent (empty for no body). The timestamp must be
 * within 300 seconds of the gateway's clock, and a nonce can be used only once.
 *
 * Worked example:
 *
 *     secret        ss-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
 *     method        POST
 *     url           https://gateway.example.com/v1/chat/completions?tag=demo
 *     timestamp     1767225600
 *     nonce         3f9c2b7e4a1d4c8e9b0a
 *     body          {"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}
 *     body SHA-256  3da6da474e7773516d1334115267c665022464a7d91afea642650d7a6d9fe937
 *     canonical     POST\n/v1/chat/completions?tag=demo\n1767225600\n3f9c2b7e4a1d4c8e9b0a\n3da6da474e7773516d1334115267c665022464a7d91afea642650d7a6d9fe937
 *     X-Signature   16598819954196e3c022126285087b202976be12de86c0d01e189c86b199e8cf
 *
 * (`\n` in the canonical string stands for a line feed.)
 *
 * @example
 * ```ts
 * const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
 * const url = "https://gateway.example.com/v1/chat/completions";
 * const signature = await signRequest({ secret: signingSecret, method: "POST", url, body });
 * await fetch(url, {
 *   method: "POST",
 *   headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json", ...signature },
 *   body,
 * });
 * ```
 *
 * @module
 */

/** What {@linkcode signRequest} signs. */
export interface SignRequestInput {
  /** The key's signing secret (`ss-...`), shown once when the key was made. */
  secret: string;
  method: string;
  /** The full URL, or just its path and query (`/v1/chat/completions?x=1`). */
  url: string | URL;
  /** The exact body that will be sent; a string is sent as UTF-8. None signs an empty body. */
  body?: string | Uint8Array;
  /** Unix time in seconds; default now. */
  timestamp?: number;
  /** Default: 22 random characters; never reuse one. */
  nonce?: string;
}

const encoder = new TextEncoder();
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;

/** The `x-timestamp`, `x-nonce` and `x-signature` headers that sign one request. */
export async function signRequest(input: SignRequestInput): Promise<Record<string, string>> {
  const timestamp = input.timestamp ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(
      `Cannot sign the request as 'timestamp' must be whole Unix seconds: current value is ${timestamp}`,
    );
  }
  const nonce = input.nonce ?? randomNonce();
  if (!NONCE.test(nonce)) {
    throw new RangeError(
      "Cannot sign the request as 'nonce' must be 16 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
    );
  }
  // The path and query as they go on the wire: the URL parser percent-encodes them the same way
  // the gateway reads them back. A bare path is resolved against a placeholder origin.
  const url = typeof input.url === "string" && input.url.startsWith("/")
    ? new URL(input.url, "http://localhost")
    : new URL(input.url);
  // A copy of a byte body: Web Crypto's types refuse views that may sit on a SharedArrayBuffer.
  const body = typeof input.body === "string"
    ? encoder.encode(input.body)
    : new Uint8Array(input.body ?? []);
  const bodyHash = hex(await crypto.subtle.digest("SHA-256", body));
  const canonical = [
    input.method.toUpperCase(),
    url.pathname + url.search,
    String(timestamp),
    nonce,
    bodyHash,
  ].join("\n");
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(input.secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = hex(await crypto.subtle.sign("HMAC", key, encoder.encode(canonical)));
  return { "x-timestamp": String(timestamp), "x-nonce": nonce, "x-signature": signature };
}

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
