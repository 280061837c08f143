/**
 * Batches formatted lines so that logging one line per request costs a string push, not a write
 * system call: a batch goes out when it reaches `maxBatchChars`, `flushIntervalMs` after its first
 * line, or on `flush()`. Unlike LogTape's non-blocking stream sink, it never drops a line when
 * the output is slow, and it writes a batch in one call rather than one call per line.
 */

/** Where batches go: a synchronous writer (stdout, a file) or a Web stream. */
export type ByteTarget = { writeSync(p: Uint8Array): number } | WritableStream<Uint8Array>;

/** How a {@linkcode LineBuffer} batches. */
export interface LineBufferOptions {
  /** Longest a line waits before it is written. */
  flushIntervalMs: number;
  /** A batch is written as soon as it holds this many characters. */
  maxBatchChars: number;
}

/** A write-behind buffer of lines in front of one {@linkcode ByteTarget}. */
export class LineBuffer {
  #lines: string[] = [];
  #chars = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pending: Promise<void> = Promise.resolve();
  #write: (bytes: Uint8Array) => void;
  #release: () => Promise<void>;
  #encoder = new TextEncoder();
  #options: LineBufferOptions;

  constructor(target: ByteTarget, options: LineBufferOptions) {
    this.#options = options;
    if ("writeSync" in target) {
      this.#write = (bytes) => writeAllSync(target, bytes);
      this.#release = () => Promise.resolve();
    } else {
      const writer = target.getWriter();
      // Writes to a stream are chained so that batches arrive in order; a failed one is
      // reported and the next still goes out.
      this.#write = (bytes) => {
        this.#pending = this.#pending.then(() => writer.write(bytes)).catch(reportWriteError);
      };
      // The stream belongs to the caller (stdout, a test): give it back, do not close it.
      this.#release = async () => {
        await this.#pending;
        writer.releaseLock();
      };
    }
  }

  /** Queues one line (newline included). */
  push(line: string): void {
    this.#lines.push(line);
    this.#chars += line.length;
    if (this.#chars >= this.#options.maxBatchChars) {
      this.flushSync();
    } else if (this.#timer === undefined) {
      // Deliberately not unref'd: a line still waiting keeps the process alive for at most
      // one interval, so a program that simply ends does not lose its last lines.
      this.#timer = setTimeout(() => this.flushSync(), this.#options.flushIntervalMs);
    }
  }

  /** Hands every queued line to the target now; a stream target may still be writing them. */
  flushSync(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#lines.length === 0) return;
    const text = this.#lines.length === 1 ? this.#lines[0] : this.#lines.join("");
    this.#lines = [];
    this.#chars = 0;
    try {
      this.#write(this.#encoder.encode(text));
    } catch (error) {
      // A full disk or a closed pipe must not take the gateway down from inside a timer.
      reportWriteError(error);
    }
  }

  /** Writes every queued line and waits until the target has taken them. */
  async flush(): Promise<void> {
    this.flushSync();
    await this.#pending;
  }

  /** Flushes, then lets go of the target. */
  async close(): Promise<void> {
    this.flushSync();
    await this.#release();
  }
}

/** Writes all of `bytes`, looping over short writes (pipes take at most 64 KiB at a time). */
export function writeAllSync(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) {
  let offset = 0;
  while (offset < bytes.length) offset += target.writeSync(bytes.subarray(offset));
}

let lastReport = 0;

/** Tells stderr that log lines were lost, at most once a second so the report cannot flood. */
export function reportWriteError(error: unknown): void {
  const now = Date.now();
  if (now - lastReport < 1000) return;
  lastReport = now;
  const reason = error instanceof Error ? error.message : String(error);
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(`logging: cannot write log lines: ${reason}\n`));
  } catch {
    // stderr is gone too; nothing is left to tell.
  }
}
