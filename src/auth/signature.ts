import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { HttpError } from "../core/mod.ts";
import type { NonceStore } from "./nonces.ts";

/** Why a signed request was refused; each one answers 401. */
export type SignatureFailure =
  | "missing_headers"
  | "malformed_timestamp"
  | "malformed_nonce"
  | "malformed_signature"
  | "timestamp_out_of_window"
  | "replayed_nonce"
  | "bad_signature";

/**
 * A request signature that does not hold. Its message names the problem and never holds the
 * signing secret or the signature the server expected.
 */
export class SignatureError extends HttpError {
  /** Which check failed, for logs and metrics. */
  readonly reason: SignatureFailure;

  constructor(reason: SignatureFailure, message: string) {
    super(401, message, { type: "authentication_error", code: "invalid_signature" });
    this.name = "SignatureError";
    this.reason = reason;
  }
}

/** What a signature is checked against: the request as it arrived, with its raw body. */
export interface SignedRequest {
  method: string;
  /** The URL's `pathname + search`, as the WHATWG URL parser gives them. */
  pathAndQuery: string;
  headers: Headers;
  body: Uint8Array;
}

/** The parts of a request that a signature covers. */
export interface CanonicalInput {
  method: string;
  pathAndQuery: string;
  timestamp: string;
  nonce: string;
  body: Uint8Array;
}

/** Options of a {@linkcode SignatureVerifier}. */
export interface SignatureVerifierOptions {
  /** Remembers nonces for as long as their timestamp is accepted; shared by all instances. */
  nonces: NonceStore;
  /** How far a timestamp may be from the server's clock, either way. Default 300. */
  windowSeconds?: number;
  /** Injected clock in milliseconds, for tests. */
  now?: () => number;
}

const TIMESTAMP = /^[0-9]{1,12}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const SIGNATURE = /^[0-9a-fA-F]{64}$/;
const HEADERS = ["X-Timestamp", "X-Nonce", "X-Signature"] as const;
/**
 * Nonces outlive their window by this much, so an instance whose clock runs a little behind
 * Redis's cannot accept a replay just after the nonce has expired.
 */
const CLOCK_SKEW_GRACE_SECONDS = 5;

/**
 * The string a signature covers: method, path and query, timestamp, nonce and the body's
 * SHA-256 in hex, one per line. The method is upper-cased, as HTTP sends it.
 */
export function canonicalString(input: CanonicalInput): string {
  const bodyHash = createHash("sha256").update(input.body).digest("hex");
  return [input.method.toUpperCase(), input.pathAndQuery, input.timestamp, input.nonce, bodyHash]
    .join("\n");
}

/** HMAC-SHA256 of `canonical` keyed with the UTF-8 bytes of `secret`, in lowercase hex. */
export function computeSignature(secret: string, canonical: string): string {
  return createHmac("sha256", secret).update(canonical).digest("hex");
}

/**
 * Checks request signatures: headers present and well formed, the timestamp inside the window,
 * the HMAC right (compared in constant time) and the nonce never seen before. The nonce is
 * claimed last, so a request with a wrong signature cannot use up someone else's nonce, and
 * only requests that passed every other check cost a round trip to the nonce store.
 */
export class SignatureVerifier {
  readonly #nonces: NonceStore;
  readonly #window: number;
  readonly #now: () => number;

  constructor(options: SignatureVerifierOptions) {
    const window = options.windowSeconds ?? 300;
    if (!Number.isSafeInteger(window) || window <= 0) {
      throw new RangeError(
        `Cannot verify signatures as 'windowSeconds' must be a positive integer: current value is ${window}`,
      );
    }
    this.#nonces = options.nonces;
    this.#window = window;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Resolves when `request` is signed with `key`'s signing secret; rejects with a
   * {@linkcode SignatureError} otherwise. Errors of the nonce store (Redis down, timeout) are
   * passed on unchanged: the request is refused, never let through unchecked.
   */
  async verify(
    request: SignedRequest,
    key: { id: string; signingSecret: string },
  ): Promise<void> {
    const values = HEADERS.map((name) => request.headers.get(name));
    const missing = HEADERS.filter((_, i) => values[i] === null || values[i] === "");
    if (missing.length > 0) {
      throw new SignatureError(
        "missing_headers",
        `This API key requires signed requests: missing ${missing.join(", ")}`,
      );
    }
    const [timestamp, nonce, signature] = values as string[];
    if (!TIMESTAMP.test(timestamp)) {
      throw new SignatureError(
        "malformed_timestamp",
        "X-Timestamp must be the Unix time in whole seconds, digits only",
      );
    }
    if (!NONCE.test(nonce)) {
      throw new SignatureError(
        "malformed_nonce",
        "X-Nonce must be 16 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
      );
    }
    if (!SIGNATURE.test(signature)) {
      throw new SignatureError(
        "malformed_signature",
        "X-Signature must be the HMAC-SHA256 of the request in hex: 64 characters",
      );
    }
    const nowSeconds = this.#now() / 1000;
    const skew = Number(timestamp) - nowSeconds;
    if (Math.abs(skew) > this.#window) {
      throw new SignatureError(
        "timestamp_out_of_window",
        `X-Timestamp is ${Math.round(Math.abs(skew))} seconds ${
          skew < 0 ? "behind" : "ahead of"
        } the server's clock; it must be within ${this.#window} seconds`,
      );
    }
    const canonical = canonicalString({
      method: request.method,
      pathAndQuery: request.pathAndQuery,
      timestamp,
      nonce,
      body: request.body,
    });
    const expected = Buffer.from(computeSignature(key.signingSecret, canonical), "hex");
    if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
      throw new SignatureError(
        "bad_signature",
        "X-Signature does not match the request: sign the method, path and query, X-Timestamp, " +
          "X-Nonce and the SHA-256 of the exact body with this key's signing secret",
      );
    }
    // Remember the nonce until its timestamp leaves the window on every instance.
    const ttl = Math.ceil(Number(timestamp) + this.#window - nowSeconds) + CLOCK_SKEW_GRACE_SECONDS;
    if (!await this.#nonces.claim(key.id, nonce, ttl)) {
      throw new SignatureError(
        "replayed_nonce",
        "X-Nonce has been used before: send a new random nonce with every request",
      );
    }
  }
}
