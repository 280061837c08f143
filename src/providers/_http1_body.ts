import type { ByteQueue } from "./_http1_conn.ts";

const LENGTH = 0;
const UNTIL_CLOSE = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_DATA_END = 4;
const TRAILERS = 5;

// A chunk-size line is a few hex digits and rarely an extension; anything longer is abuse.
const MAX_CHUNK_SIZE_LINE = 4_096;
const MAX_TRAILER_BYTES = 65_536;

/**
 * Decodes one response body from a connection's buffer as bytes arrive, whatever its framing.
 * Chunks it returns are copies: the buffer is reused by the next read.
 */
export class BodyDecoder {
  /** Whether the whole body was decoded; bytes after it belong to no response. */
  done = false;
  #state: number;
  #remaining: number;
  #trailerBytes = 0;

  private constructor(state: number, remaining: number) {
    this.#state = state;
    this.#remaining = remaining;
  }

  /** A body of exactly `length` bytes. */
  static ofLength(length: number): BodyDecoder {
    const decoder = new BodyDecoder(LENGTH, length);
    decoder.done = length === 0;
    return decoder;
  }

  /** A `transfer-encoding: chunked` body; extensions and trailers are dropped. */
  static chunked(): BodyDecoder {
    return new BodyDecoder(CHUNK_SIZE, 0);
  }

  /** A body that ends when the upstream closes the connection. */
  static untilClose(): BodyDecoder {
    return new BodyDecoder(UNTIL_CLOSE, 0);
  }

  /** At the connection's end: true when that legitimately ends the body. */
  endOfStream(): boolean {
    if (this.#state !== UNTIL_CLOSE) return false;
    this.done = true;
    return true;
  }

  /**
   * Consumes what `queue` holds and returns the body bytes in it (null when there are none
   * yet); TypeError when the framing is malformed.
   */
  decode(queue: ByteQueue): Uint8Array | null {
    if (this.#state === LENGTH || this.#state === UNTIL_CLOSE) {
      const count = this.#state === LENGTH
        ? Math.min(queue.end - queue.start, this.#remaining)
        : queue.end - queue.start;
      if (count === 0) return null;
      const piece = queue.buf.slice(queue.start, queue.start + count);
      queue.start += count;
      if (this.#state === LENGTH && (this.#remaining -= count) === 0) this.done = true;
      return piece;
    }
    return this.#chunked(queue);
  }

  #chunked(queue: ByteQueue): Uint8Array | null {
    const { buf, end } = queue;
    let first: Uint8Array | null = null;
    let rest: Uint8Array[] | null = null;
    while (!this.done) {
      const start = queue.start;
      if (this.#state === CHUNK_DATA) {
        const count = Math.min(end - start, this.#remaining);
        if (count === 0) break;
        const piece = buf.slice(start, start + count);
        queue.start = start + count;
        if ((this.#remaining -= count) === 0) this.#state = CHUNK_DATA_END;
        // Several small chunks already here (SSE events) go out as one piece.
        if (first === null) first = piece;
        else (rest ??= []).push(piece);
      } else if (this.#state === CHUNK_DATA_END) {
        if (end - start < 2) break;
        if (buf[start] !== 13 || buf[start + 1] !== 10) {
          throw new TypeError("The upstream sent a malformed chunked body: no CRLF after a chunk");
        }
        queue.start = start + 2;
        this.#state = CHUNK_SIZE;
      } else {
        const lineEnd = findCrlf(buf, start, end);
        if (lineEnd < 0) {
          const limit = this.#state === CHUNK_SIZE
            ? MAX_CHUNK_SIZE_LINE
            : MAX_TRAILER_BYTES - this.#trailerBytes;
          if (end - start > limit) {
            throw new TypeError(
              "The upstream sent a chunk-size line or trailers that are too long",
            );
          }
          break;
        }
        queue.start = lineEnd + 2;
        if (this.#state === CHUNK_SIZE) {
          const size = parseChunkSize(buf, start, lineEnd);
          this.#state = size === 0 ? TRAILERS : CHUNK_DATA;
          this.#remaining = size;
        } else if (lineEnd === start) {
          this.done = true;
        } else if ((this.#trailerBytes += lineEnd - start + 2) > MAX_TRAILER_BYTES) {
          throw new TypeError("The upstream sent trailers that are too long");
        }
      }
    }
    return rest === null ? first : concat(first!, rest);
  }
}

function findCrlf(buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    if (buf[i] === 10) {
      if (i === start || buf[i - 1] !== 13) {
        throw new TypeError("The upstream sent a malformed chunked body: a bare LF");
      }
      return i - 1;
    }
  }
  return -1;
}

function parseChunkSize(buf: Uint8Array, start: number, end: number): number {
  let size = 0;
  let i = start;
  for (; i < end; i++) {
    const digit = hexValue(buf[i]);
    if (digit < 0) break;
    // 12 hex digits is 256 TiB: beyond that the number would lose precision, and no body is that big.
    if (i - start === 12) throw badChunkSize(buf, start, end);
    size = size * 16 + digit;
  }
  if (i === start) throw badChunkSize(buf, start, end);
  for (; i < end; i++) {
    const byte = buf[i];
    if (byte === 59) break; // ";" starts an extension, which is ignored
    if (byte !== 32 && byte !== 9) throw badChunkSize(buf, start, end);
  }
  return size;
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

function badChunkSize(buf: Uint8Array, start: number, end: number): TypeError {
  const line = String.fromCharCode(...buf.subarray(start, Math.min(end, start + 40)));
  return new TypeError(`The upstream sent an invalid chunk size: ${JSON.stringify(line)}`);
}

function concat(first: Uint8Array, rest: Uint8Array[]): Uint8Array {
  let size = first.length;
  for (const piece of rest) size += piece.length;
  const out = new Uint8Array(size);
  out.set(first);
  let offset = first.length;
  for (const piece of rest) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
