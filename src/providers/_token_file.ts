import { UpstreamError } from "./errors.ts";

/** Where a provider gets the bearer token of its next call. */
export interface TokenSource {
  /** The current token; throws an `auth` {@linkcode UpstreamError} when there is none. */
  token(): Promise<string>;
}

/** Options of a {@linkcode FileTokenSource}. */
export interface FileTokenSourceOptions {
  /** The file holding the token alone (surrounding whitespace is ignored). */
  path: string;
  /** How long a token read is used before the file is read again; 60 s by default. */
  refreshMs?: number;
  /** Reads the file; `Deno.readTextFile` by default. */
  readTextFile?: (path: string) => Promise<string>;
  /** The clock, in milliseconds. */
  now?: () => number;
}

/**
 * A token kept in a file by whatever renews it (a sidecar, a timer running
 * `az account get-access-token`), read again once it is `refreshMs` old so that a renewed token is
 * used without a restart.
 */
export class FileTokenSource implements TokenSource {
  readonly #path: string;
  readonly #refreshMs: number;
  readonly #read: (path: string) => Promise<string>;
  readonly #now: () => number;
  #cached: { token: string; readAt: number } | undefined;

  constructor(options: FileTokenSourceOptions) {
    this.#path = options.path;
    this.#refreshMs = options.refreshMs ?? 60_000;
    this.#read = options.readTextFile ?? Deno.readTextFile;
    this.#now = options.now ?? Date.now;
  }

  /** The token, read from the file when the last read is too old. */
  async token(): Promise<string> {
    const now = this.#now();
    if (this.#cached && now - this.#cached.readAt < this.#refreshMs) return this.#cached.token;
    let token: string;
    try {
      token = (await this.#read(this.#path)).trim();
    } catch (error) {
      throw new UpstreamError("auth", `Cannot read the token file ${this.#path}`, { cause: error });
    }
    if (!token) throw new UpstreamError("auth", `The token file ${this.#path} is empty`);
    this.#cached = { token, readAt: now };
    return token;
  }
}
