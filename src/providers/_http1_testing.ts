/**
 * @module
 * Servers for the HTTP/1.1 client's tests: `Deno.serve` for well-behaved upstreams, and a raw
 * TCP server for the malformed and edge-case answers `Deno.serve` would never send.
 */
import { createHttp1Fetch, type Http1Client, type Http1FetchOptions } from "./http1.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A client closed at the end of the test's scope (`using`). */
export function testClient(options?: Http1FetchOptions): Http1Client & Disposable {
  const client = createHttp1Fetch(options);
  return Object.assign(client, { [Symbol.dispose]: () => client.close() });
}

/** A `Deno.serve` upstream that records the client port of every request it handles. */
export interface TestServer extends AsyncDisposable {
  port: number;
  /** Client ports seen, one per TCP connection. */
  ports: Set<number>;
  url(path?: string): string;
}

/** Starts a `Deno.serve` upstream on 127.0.0.1 (with TLS when `tls` is given). */
export function serve(
  handler: (request: Request) => Response | Promise<Response>,
  tls?: { cert: string; key: string },
): TestServer {
  const ports = new Set<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
    (request, info) => {
      ports.add(info.remoteAddr.port);
      return handler(request);
    },
  );
  const scheme = tls ? "https" : "http";
  return {
    port: server.addr.port,
    ports,
    url: (path = "/") => `${scheme}://127.0.0.1:${server.addr.port}${path}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** One request as a raw server read it. */
export interface RawRequest {
  head: string;
  body: Uint8Array;
}

/** A server-side connection of a {@linkcode RawServer}. */
export class RawConn {
  #buffered = new Uint8Array(0);

  constructor(readonly conn: Deno.Conn) {}

  /** Reads one request (head and content-length body); null when the client closed first. */
  async readRequest(): Promise<RawRequest | null> {
    let headEnd: number;
    while ((headEnd = decoder.decode(this.#buffered).indexOf("\r\n\r\n")) < 0) {
      if (!(await this.#read())) return null;
    }
    const head = decoder.decode(this.#buffered.subarray(0, headEnd));
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    while (this.#buffered.length < headEnd + 4 + length) {
      if (!(await this.#read())) return null;
    }
    const body = this.#buffered.slice(headEnd + 4, headEnd + 4 + length);
    this.#buffered = this.#buffered.slice(headEnd + 4 + length);
    return { head, body };
  }

  /** Writes `data` whole. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let written = 0; written < bytes.length;) {
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  /** Resolves when the client closed the connection (or reset it). */
  async closedByClient(): Promise<void> {
    try {
      while (await this.#read());
    } catch {
      // A reset is a close too.
    }
  }

  async #read(): Promise<boolean> {
    const chunk = new Uint8Array(65_536);
    const count = await this.conn.read(chunk);
    if (count === null) return false;
    const next = new Uint8Array(this.#buffered.length + count);
    next.set(this.#buffered);
    next.set(chunk.subarray(0, count), this.#buffered.length);
    this.#buffered = next;
    return true;
  }
}

/** A TCP server whose handler writes whatever bytes a test needs. */
export class RawServer implements AsyncDisposable {
  /** Connections accepted so far. */
  accepted = 0;
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #handlers: Promise<void>[] = [];
  readonly #loop: Promise<void>;

  constructor(handle: (conn: RawConn, index: number) => Promise<void>) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#loop = this.#accept(handle);
  }

  /** The listening port. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** An http URL of this server. */
  url(path = "/"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) closeQuietly(conn);
    await this.#loop;
    await Promise.all(this.#handlers);
  }

  async #accept(handle: (conn: RawConn, index: number) => Promise<void>): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        const handler = handle(new RawConn(conn), this.accepted++)
          .catch(() => {}) // the client may close first: that is what many tests do
          .finally(() => {
            this.#conns.delete(conn);
            closeQuietly(conn);
          });
        this.#handlers.push(handler);
      }
    } catch {
      // The listener was closed.
    }
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition` holds, failing with `message` after two seconds. */
export async function eventually(condition: () => boolean, message: string): Promise<void> {
  for (const deadline = Date.now() + 2_000; !condition();) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${message}`);
    await delay(5);
  }
}
