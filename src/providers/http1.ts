import { BodyDecoder } from "./_http1_body.ts";
import { type Http1Conn, openConn, type Target } from "./_http1_conn.ts";
import {
  encodeRequest,
  findHeadEnd,
  parseHead,
  requestMethod,
  type ResponseHead,
} from "./_http1_head.ts";
import { Http1Pool } from "./_http1_pool.ts";

/** Options of {@linkcode createHttp1Fetch}. */
export interface Http1FetchOptions {
  /** Idle connections kept per origin; more are closed. Default 256. */
  maxIdlePerOrigin?: number;
  /** Idle connections older than this are closed. Default 30 000 ms. */
  idleTimeoutMs?: number;
  /** Time allowed to dial, TLS handshake included. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Extra PEM root certificates for HTTPS upstreams, such as a self-signed test certificate. */
  caCerts?: string[];
}

/** A fetch-compatible function for upstream calls and the pool behind it. */
export interface Http1Client {
  /** Sends one request; resolves once the response head arrived, like `fetch`. */
  fetch: (input: string | URL, init?: RequestInit) => Promise<Response>;
  /** Closes idle connections and stops the sweep; later connections are not pooled. */
  close(): void;
  /** How many connections wait idle in the pool. */
  readonly idleConnections: number;
}

interface ClientState {
  pool: Http1Pool;
  connectTimeoutMs: number;
  caCerts: string[] | undefined;
}

const MAX_HEAD_BYTES = 65_536;
const CONNECT_TIMEOUT = Symbol("connect timeout");

/** A fetch-compatible function for upstream calls: HTTP/1.1 with a keep-alive pool per origin. */
export function createHttp1Fetch(options: Http1FetchOptions = {}): Http1Client {
  const maxIdlePerOrigin = checked("maxIdlePerOrigin", options.maxIdlePerOrigin ?? 256, 0);
  const idleTimeoutMs = checked("idleTimeoutMs", options.idleTimeoutMs ?? 30_000, 1);
  const connectTimeoutMs = checked("connectTimeoutMs", options.connectTimeoutMs ?? 10_000, 1);
  const pool = new Http1Pool({ maxIdlePerOrigin, idleTimeoutMs });
  const state: ClientState = { pool, connectTimeoutMs, caCerts: options.caCerts };

  function http1Fetch(input: string | URL, init?: RequestInit): Promise<Response> {
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let exchange: Exchange;
    try {
      const url = typeof input === "string" ? new URL(input) : input;
      const method = requestMethod(init);
      const request = encodeRequest(method, url, init);
      exchange = new Exchange(state, {
        target: targetOf(url),
        request,
        signal,
        head: method === "HEAD",
      });
    } catch (error) {
      return Promise.reject(error); // as fetch does: a bad request rejects, it never throws
    }
    return exchange.run();
  }

  return {
    fetch: http1Fetch,
    close: () => pool.close(),
    get idleConnections() {
      return pool.idle;
    },
  };
}

function checked(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(
      `Cannot create the HTTP/1.1 client as '${name}' must be at least ${min}: current value is ${value}`,
    );
  }
  return value;
}

function targetOf(url: URL): Target {
  const tls = url.protocol === "https:";
  if (!tls && url.protocol !== "http:") {
    throw new TypeError(`Cannot send the request as the scheme is not supported: ${url.protocol}`);
  }
  const { hostname } = url;
  return {
    origin: url.origin,
    hostname: hostname.startsWith("[") ? hostname.slice(1, -1) : hostname,
    port: url.port ? Number(url.port) : tls ? 443 : 80,
    tls,
  };
}

/**
 * One request and its response. It is the abort listener (`handleEvent`) and the body's
 * underlying source at once, so a request allocates no closures.
 */
class Exchange implements UnderlyingDefaultSource<Uint8Array> {
  readonly #client: ClientState;
  readonly #target: Target;
  readonly #request: Uint8Array;
  readonly #signal: AbortSignal | undefined;
  readonly #isHead: boolean;
  #conn: Http1Conn | undefined;
  #connecting: AbortController | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #decoder: BodyDecoder | undefined;
  #keepAlive = false;
  #done = false;

  constructor(
    client: ClientState,
    call: { target: Target; request: Uint8Array; signal?: AbortSignal; head: boolean },
  ) {
    this.#client = client;
    this.#target = call.target;
    this.#request = call.request;
    this.#signal = call.signal;
    this.#isHead = call.head;
  }

  async run(): Promise<Response> {
    this.#signal?.addEventListener("abort", this);
    try {
      return this.#respond(await this.#send());
    } catch (error) {
      this.#finish(false);
      throw this.#signal?.aborted ? this.#signal.reason : asTypeError(error, this.#target.origin);
    }
  }

  /** The caller's signal fired: whatever is pending fails with its reason. */
  handleEvent(): void {
    const reason = this.#signal!.reason;
    this.#connecting?.abort(reason);
    this.#controller?.error(reason);
    this.#finish(false);
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const conn = this.#conn;
    const decoder = this.#decoder!;
    if (conn === undefined) return; // aborted: the stream is already errored
    try {
      for (;;) {
        const chunk = decoder.decode(conn);
        if (decoder.done) {
          if (chunk) controller.enqueue(chunk);
          controller.close();
          this.#finish(this.#keepAlive && conn.buffered === 0);
          return;
        }
        // One chunk per pull and no read-ahead, so SSE events flow through as they arrive.
        if (chunk) return controller.enqueue(chunk);
        if (!(await conn.fill()) && !decoder.endOfStream()) {
          throw new TypeError("The upstream closed the connection before the body ended");
        }
      }
    } catch (error) {
      const reason = this.#signal?.aborted
        ? this.#signal.reason
        : asTypeError(error, this.#target.origin);
      this.#finish(false);
      throw reason;
    }
  }

  cancel(): void {
    this.#finish(false);
  }

  async #send(): Promise<ResponseHead> {
    let conn = this.#client.pool.take(this.#target.origin);
    for (;;) {
      conn ??= await this.#connect();
      if (this.#done) {
        // Aborted between the dial's end and this line: the listener could not see `conn`.
        conn.close();
        throw this.#signal?.reason;
      }
      this.#conn = conn;
      try {
        await conn.write(this.#request);
        const head = await readHead(conn);
        // Some servers answer 408 on a connection they time out while idle, then close it: on
        // a reused connection that answer is likely not ours, and RFC 9110 allows a repeat.
        if (head.status !== 408 || !conn.reused) return head;
      } catch (error) {
        // An upstream may close an idle connection just as it is reused. Nothing was answered,
        // so the request goes again, once: the new connection is not `reused`.
        if (this.#signal?.aborted || !conn.reused || conn.received > 0) throw error;
      }
      conn.close();
      this.#client.pool.dropIdleSince(conn.origin, conn.idleSince);
      conn = undefined;
    }
  }

  async #connect(): Promise<Http1Conn> {
    const connecting = this.#connecting = new AbortController();
    const { connectTimeoutMs, caCerts } = this.#client;
    // The one timer per dial, never per request: dials are rare with keep-alive.
    const timer = setTimeout(() => connecting.abort(CONNECT_TIMEOUT), connectTimeoutMs);
    try {
      return await openConn(this.#target, { signal: connecting.signal, caCerts });
    } catch (error) {
      if (connecting.signal.reason !== CONNECT_TIMEOUT) throw error;
      throw new TypeError(
        `Cannot connect to ${this.#target.origin} as it took longer than ${connectTimeoutMs} ms`,
      );
    } finally {
      clearTimeout(timer);
      this.#connecting = undefined;
    }
  }

  #respond(head: ResponseHead): Response {
    const conn = this.#conn!;
    const { status } = head;
    const init = { status, statusText: head.statusText, headers: head.headers };
    if (this.#isHead || status === 204 || status === 205 || status === 304) {
      const response = new Response(null, init);
      this.#finish(head.keepAlive && conn.buffered === 0);
      return response;
    }
    const length = head.contentLength;
    if (length >= 0 && conn.buffered >= length) {
      // The whole body came with the head: no stream, and the connection is free at once.
      // `Response` copies the bytes, so a view of the read buffer is enough.
      const response = new Response(conn.buf.subarray(conn.start, conn.start + length), init);
      conn.start += length;
      this.#finish(head.keepAlive && conn.buffered === 0);
      return response;
    }
    this.#keepAlive = head.keepAlive && (head.chunked || length >= 0);
    this.#decoder = head.chunked
      ? BodyDecoder.chunked()
      : length >= 0
      ? BodyDecoder.ofLength(length)
      : BodyDecoder.untilClose();
    return new Response(new ReadableStream<Uint8Array>(this, { highWaterMark: 0 }), init);
  }

  /** Ends the exchange once: stops listening and pools or closes the connection. */
  #finish(reuse: boolean): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal?.removeEventListener("abort", this);
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn === undefined) return;
    if (reuse) this.#client.pool.release(conn);
    else conn.close();
  }
}

/** Reads up to the end of a final (non-1xx) response head and parses it. */
async function readHead(conn: Http1Conn): Promise<ResponseHead> {
  let scanned = 0; // bytes after `conn.start` searched for the terminator already
  for (;;) {
    if (scanned === 0) {
      // RFC 9112 §2.2: a client ignores empty lines before a status line.
      while (
        conn.start < conn.end && (conn.buf[conn.start] === 13 || conn.buf[conn.start] === 10)
      ) {
        conn.start++;
      }
    }
    const at = findHeadEnd(conn.buf, conn.start + scanned, conn.end);
    if (at >= 0) {
      if (at - conn.start > MAX_HEAD_BYTES) throw headTooLarge();
      const head = parseHead(conn.buf.subarray(conn.start, at));
      conn.start = at + 4;
      scanned = 0;
      if (head.status >= 200) return head;
      if (head.status === 101) throw new TypeError("The upstream switched protocols unasked");
      continue; // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one
    }
    if (conn.buffered > MAX_HEAD_BYTES) throw headTooLarge();
    scanned = Math.max(0, conn.buffered - 3);
    if (!(await conn.fill())) {
      throw new TypeError(
        conn.received === 0
          ? "The upstream closed the connection without answering"
          : "The upstream closed the connection in the middle of a response head",
      );
    }
  }
}

function headTooLarge(): TypeError {
  return new TypeError(`The upstream sent a response head over ${MAX_HEAD_BYTES} bytes`);
}

function asTypeError(error: unknown, origin: string): TypeError {
  if (error instanceof TypeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TypeError(`The request to ${origin} failed: ${message}`, { cause: error });
}
