import { UpstreamError } from "./errors.ts";
import type { TokenSource } from "./_token_file.ts";

/** The fields of a Google service account's JSON key the token exchange needs. */
interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

/** Options of a {@linkcode ServiceAccountTokenSource}. */
export interface ServiceAccountTokenOptions {
  /** The service account's JSON key file, as the Cloud console or `gcloud` downloads it. */
  path: string;
  /** Reads the file; `Deno.readTextFile` by default. */
  readTextFile?: (path: string) => Promise<string>;
  /** The HTTP client of the token exchange; the global `fetch` by default. */
  fetch?: (input: string | URL, init?: RequestInit) => Promise<Response>;
  /** The clock, in milliseconds. */
  now?: () => number;
}

const DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token";
const SCOPE = "https://www.googleapis.com/auth/cloud-platform";
/** Google's assertions may be valid for an hour at most. */
const ASSERTION_SECONDS = 3600;
/** A token is exchanged again this long before it expires, so no call goes out with a stale one. */
const RENEW_EARLY_MS = 5 * 60_000;
const EXCHANGE_TIMEOUT_MS = 10_000;

/**
 * OAuth access tokens of a Google service account, from its JSON key: an RS256-signed assertion
 * exchanged at Google's token endpoint (the JWT bearer grant of RFC 7523), kept until shortly
 * before it expires. Concurrent calls share one exchange. Failures are `auth` errors whose
 * messages never hold the key.
 */
export class ServiceAccountTokenSource implements TokenSource {
  readonly #path: string;
  readonly #read: (path: string) => Promise<string>;
  readonly #fetch: (input: string | URL, init?: RequestInit) => Promise<Response>;
  readonly #now: () => number;
  #signer: Promise<{ key: ServiceAccountKey; privateKey: CryptoKey }> | undefined;
  #cached: { token: string; renewAt: number } | undefined;
  #exchange: Promise<string> | undefined;

  constructor(options: ServiceAccountTokenOptions) {
    this.#path = options.path;
    this.#read = options.readTextFile ?? Deno.readTextFile;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
  }

  /** A valid access token, exchanged when the last one is near its end. */
  token(): Promise<string> {
    if (this.#cached && this.#now() < this.#cached.renewAt) {
      return Promise.resolve(this.#cached.token);
    }
    this.#exchange ??= this.#exchangeToken().finally(() => this.#exchange = undefined);
    return this.#exchange;
  }

  async #exchangeToken(): Promise<string> {
    const { key, privateKey } = await this.#loadSigner();
    const tokenUri = key.token_uri ?? DEFAULT_TOKEN_URI;
    const issuedAt = Math.floor(this.#now() / 1000);
    const assertion = await signedJwt(privateKey, {
      header: {
        alg: "RS256",
        typ: "JWT",
        ...(key.private_key_id ? { kid: key.private_key_id } : {}),
      },
      claims: {
        iss: key.client_email,
        scope: SCOPE,
        aud: tokenUri,
        iat: issuedAt,
        exp: issuedAt + ASSERTION_SECONDS,
      },
    });
    let response: Response;
    try {
      response = await this.#fetch(tokenUri, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          assertion,
        }),
        signal: AbortSignal.timeout(EXCHANGE_TIMEOUT_MS),
      });
    } catch (error) {
      throw new UpstreamError("auth", "Cannot reach Google's token endpoint", { cause: error });
    }
    const body = await response.json().catch(() => undefined) as
      | { access_token?: unknown; expires_in?: unknown; error?: unknown }
      | undefined;
    if (!response.ok || typeof body?.access_token !== "string" || body.access_token === "") {
      const reason = typeof body?.error === "string" ? ` (${body.error.slice(0, 100)})` : "";
      throw new UpstreamError(
        "auth",
        `Google refused the service account's token exchange with status ${response.status}${reason}`,
      );
    }
    const lifetimeMs = typeof body.expires_in === "number" ? body.expires_in * 1000 : 3600_000;
    this.#cached = {
      token: body.access_token,
      renewAt: this.#now() + Math.max(0, lifetimeMs - RENEW_EARLY_MS),
    };
    return body.access_token;
  }

  /** Reads and imports the key once; a failed read is tried again at the next call. */
  #loadSigner(): Promise<{ key: ServiceAccountKey; privateKey: CryptoKey }> {
    this.#signer ??= readKey(this.#path, this.#read).catch((error) => {
      this.#signer = undefined;
      throw error;
    });
    return this.#signer;
  }
}

async function readKey(
  path: string,
  read: (path: string) => Promise<string>,
): Promise<{ key: ServiceAccountKey; privateKey: CryptoKey }> {
  let key: Partial<ServiceAccountKey>;
  try {
    key = JSON.parse(await read(path));
  } catch (error) {
    throw new UpstreamError("auth", `Cannot read the service account key ${path}`, {
      cause: error,
    });
  }
  if (typeof key.client_email !== "string" || typeof key.private_key !== "string") {
    throw new UpstreamError(
      "auth",
      `The service account key ${path} has no client_email or private_key`,
    );
  }
  const pem = key.private_key.replace(/-----(BEGIN|END) PRIVATE KEY-----|\s/g, "");
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey(
      "pkcs8",
      Uint8Array.fromBase64(pem),
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
  } catch (error) {
    throw new UpstreamError("auth", `The private key of ${path} is not an RSA PKCS #8 key`, {
      cause: error,
    });
  }
  return { key: key as ServiceAccountKey, privateKey };
}

/** A compact JWS of `claims`, signed with RS256. */
async function signedJwt(
  privateKey: CryptoKey,
  { header, claims }: { header: Record<string, unknown>; claims: Record<string, unknown> },
): Promise<string> {
  const encoder = new TextEncoder();
  const part = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)));
  const signingInput = `${part(header)}.${part(claims)}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    privateKey,
    encoder.encode(signingInput),
  );
  return `${signingInput}.${base64url(new Uint8Array(signature))}`;
}

function base64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}
