import { createHash } from "node:crypto";

const KEY_PREFIX = "sk-gw-";
const encoder = new TextEncoder();

/** A new API key: the secret shown once, its hash to store, and a prefix to show in listings. */
export interface NewApiKey {
  secret: string;
  hash: string;
  prefix: string;
}

/** Makes a random API key with 256 bits of entropy. */
export function generateApiKey(): NewApiKey {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = KEY_PREFIX + base64url(bytes);
  return { secret, hash: hashApiKey(secret), prefix: secret.slice(0, KEY_PREFIX.length + 6) };
}

/**
 * Hashes a key for storage and lookup. Keys carry 256 random bits, so one SHA-256 round is as
 * safe as a slow password hash here. It runs on every request, so it uses Node's synchronous
 * hash: `crypto.subtle.digest` hops to a worker thread and measured 20 times slower here.
 */
export function hashApiKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Whether `text` has the shape of one of our keys, checked before any lookup. */
export function looksLikeApiKey(text: string): boolean {
  return text.startsWith(KEY_PREFIX) && text.length === KEY_PREFIX.length + 43 &&
    /^[A-Za-z0-9_-]+$/.test(text.slice(KEY_PREFIX.length));
}

/** Compares two strings in time that depends only on their lengths. */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  // Hashing first makes both sides the same length, so nothing leaks through an early exit.
  const [left, right] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const x = new Uint8Array(left);
  const y = new Uint8Array(right);
  let difference = 0;
  for (let i = 0; i < x.length; i++) difference |= x[i] ^ y[i];
  return difference === 0;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
