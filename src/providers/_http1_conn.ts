/** Where a request goes: what the pool keys on and what a new connection dials. */
export interface Target {
  /** `scheme://host:port` as the URL spells it; the pool's key. */
  origin: string;
  /** Without IPv6 brackets, as `Deno.connect` and TLS name checks want it. */
  hostname: string;
  port: number;
  tls: boolean;
}

/** Bytes read and not yet consumed; parsers advance `start`, reads advance `end`. */
export interface ByteQueue {
  buf: Uint8Array<ArrayBuffer>;
  start: number;
  end: number;
}

const INITIAL_BUFFER = 16_384;
// Reads smaller than this waste a syscall, so the buffer is compacted or grown first.
const MIN_READ = 4_096;

/** One upstream connection and its read buffer, used by one request at a time. */
export class Http1Conn implements ByteQueue {
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(INITIAL_BUFFER);
  start = 0;
  end = 0;
  /** Bytes read since the last request was written: a stale pooled connection reads none. */
  received = 0;
  /** Whether it served a request before; only such connections are retried. */
  reused = false;
  /** When it went back to the pool, in `performance.now()` ms (monotonic). */
  idleSince = 0;
  #closed = false;

  constructor(readonly socket: Deno.Conn, readonly origin: string) {}

  /** Bytes read and not yet consumed. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Whether {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes all of `bytes` (a socket may take fewer per call). */
  async write(bytes: Uint8Array): Promise<void> {
    this.received = 0;
    let written = await this.socket.write(bytes);
    while (written < bytes.length) written += await this.socket.write(bytes.subarray(written));
  }

  /** Reads more bytes after `end`; false at the end of the stream. */
  async fill(): Promise<boolean> {
    if (this.start === this.end) {
      this.start = this.end = 0;
    } else if (this.buf.length - this.end < MIN_READ) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      // Callers bound what they leave unconsumed (a head, a chunk-size line), so this stays small.
      if (this.buf.length - this.end < MIN_READ) {
        const bigger = new Uint8Array(this.buf.length * 2);
        bigger.set(this.buf.subarray(0, this.end));
        this.buf = bigger;
      }
    }
    const count = await this.socket.read(this.buf.subarray(this.end));
    if (count === null) return false;
    this.end += count;
    this.received += count;
    return true;
  }

  /** Closes the socket once; pending reads and writes then reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.socket.close();
    } catch {
      // Already closed by the runtime: nothing left to release.
    }
  }
}

/**
 * Dials `target`. `signal` cancels the attempt (connect timeout or caller abort); it is a
 * per-connect signal, never the caller's, so a pooled connection outlives its first request.
 */
export async function openConn(
  target: Target,
  options: { signal: AbortSignal; caCerts?: string[] },
): Promise<Http1Conn> {
  const { signal } = options;
  const tcp = await Deno.connect({ hostname: target.hostname, port: target.port, signal });
  if (signal.aborted) {
    tcp.close();
    throw signal.reason;
  }
  tcp.setNoDelay(true);
  if (!target.tls) return new Http1Conn(tcp, target.origin);
  // TCP first and then startTls (rather than connectTls) so the socket gets TCP_NODELAY and
  // the dial is cancelable; the handshake is awaited here so the connect timeout covers it.
  const tls = await Deno.startTls(tcp, { hostname: target.hostname, caCerts: options.caCerts });
  const conn = new Http1Conn(tls, target.origin);
  const onAbort = () => conn.close();
  signal.addEventListener("abort", onAbort);
  try {
    await tls.handshake();
  } catch (error) {
    conn.close();
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (signal.aborted) {
    conn.close();
    throw signal.reason;
  }
  return conn;
}
