import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { Buffer } from "node:buffer";

const VERSION = "v1.";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts secrets at rest (signing secrets in the database) with AES-256-GCM under a master key
 * from the environment. A sealed secret is `"v1." + base64url(iv | ciphertext | tag)` with a
 * random 96-bit IV per secret; the tag makes any change, or another master key, fail to open.
 *
 * It uses Node's synchronous cipher: Web Crypto hops to another thread and measured half as fast
 * for the small inputs here. The key is held as a `KeyObject`, so inspecting or logging a box never
 * shows it.
 */
export class SecretBox {
  readonly #key: KeyObject;

  private constructor(key: KeyObject) {
    this.#key = key;
  }

  /** A box for a master key given as base64 of 32 bytes; throws a clear Error otherwise. */
  static fromBase64(masterKey: string): SecretBox {
    const text = masterKey.trim();
    // Strict base64, so that a typo is an error instead of a silently different key.
    const bytes = /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0
      ? Buffer.from(text, "base64")
      : undefined;
    if (!bytes || bytes.length !== KEY_BYTES) {
      throw new Error(
        "Cannot use the master key as it must be 32 bytes encoded as base64 (44 characters), " +
          `for example from SecretBox.generateKey(): current value ${
            bytes ? `decodes to ${bytes.length} bytes` : "is not base64"
          }`,
      );
    }
    const box = new SecretBox(createSecretKey(bytes));
    bytes.fill(0);
    return box;
  }

  /** A new random master key: base64 of 32 random bytes. */
  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString("base64");
  }

  /** Seals `plaintext`; each call uses a new random IV, so equal inputs give different outputs. */
  // deno-lint-ignore require-await -- async to keep the door open for a KMS-backed box
  async encrypt(plaintext: string): Promise<string> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv, { authTagLength: TAG_BYTES });
    const sealed = Buffer.concat([
      iv,
      cipher.update(plaintext, "utf8"),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return VERSION + sealed.toString("base64url");
  }

  /** Opens what {@linkcode SecretBox.encrypt} sealed; throws when it was changed or sealed under another key. */
  // deno-lint-ignore require-await -- async to keep the door open for a KMS-backed box
  async decrypt(sealed: string): Promise<string> {
    if (!sealed.startsWith(VERSION) || !/^[A-Za-z0-9_-]+$/.test(sealed.slice(VERSION.length))) {
      throw new Error("Cannot decrypt the secret as it is not a sealed 'v1.' value");
    }
    const bytes = Buffer.from(sealed.slice(VERSION.length), "base64url");
    if (bytes.length < IV_BYTES + TAG_BYTES) {
      throw new Error("Cannot decrypt the secret as it is too short to be a sealed value");
    }
    const iv = bytes.subarray(0, IV_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", this.#key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    try {
      const plain = Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return plain.toString("utf8");
    } catch (error) {
      throw new Error(
        "Cannot decrypt the secret: it was changed, or sealed under another master key",
        { cause: error },
      );
    }
  }
}

/** A new request-signing secret: `"ss-"` and 32 random bytes in base64url (46 characters). */
export function generateSigningSecret(): string {
  return "ss-" + randomBytes(32).toString("base64url");
}
