// The on-disk spool: a durable map from job id to a record, kept as an append-only file of JSON
// lines ({"put": record} or {"ack": id}), rewritten (to a temporary file, then renamed) once most
// of its lines are superseded.
import { join } from "node:path";
import { type CommonQueueOptions, errorMessage, sleep } from "./_shared.ts";

type Line<T> = { put: T } | { ack: string };
type Waiter = PromiseWithResolvers<void>;
type Pending = { line: string; done: Waiter };

/**
 * When a write resolves: `fsync` once it is on the disk (a crash of the machine loses nothing),
 * `write` once the OS has it (a crash of the process loses nothing; the fsync follows in the
 * background within {@linkcode BACKGROUND_SYNC_DELAY_MS}, so a crash of the machine can lose the
 * writes of the last few milliseconds).
 */
export type SpoolSync = "fsync" | "write";

// Rewrite the file when it holds this many lines and more than twice the live records, or when
// nothing is live any more and it holds a few lines.
const COMPACT_LINES = 1000;
const COMPACT_EMPTY_LINES = 64;

/** In `write` mode, how long after a write its fsync starts, so that it covers the writes after. */
export const BACKGROUND_SYNC_DELAY_MS = 10;

/** What a {@linkcode Spool} is opened with, besides where its file is. */
export interface SpoolOptions<T> {
  /** The id of a record: a later record of the same id replaces it. */
  key: (record: T) => string;
  /** Defaults to `fsync`. */
  sync?: SpoolSync;
  /** Told when a background fsync (of `write` mode) failed: the OS may have lost those writes. */
  onSyncError?: (error: unknown) => void;
}

/**
 * Opens a queue's spool file `name` in `spoolDir`, written as `spoolSync` says; a failed
 * background fsync is logged as `queue_spool_sync_failed`: the jobs are written and survive the
 * process, but a crash of the machine before the next good fsync could lose them.
 */
export function openQueueSpool<T>(
  options: Pick<CommonQueueOptions, "spoolDir" | "spoolSync" | "logger">,
  name: string,
  key: (record: T) => string,
): Spool<T> {
  return new Spool(options.spoolDir, name, {
    key,
    sync: options.spoolSync,
    onSyncError: (error) => {
      options.logger.error("queue_spool_sync_failed", { error_message: errorMessage(error) });
    },
  });
}

/** A durable map of records, replayed from its file when opened. */
export class Spool<T> {
  readonly path: string;
  readonly #options: Required<Omit<SpoolOptions<T>, "onSyncError">> & SpoolOptions<T>;
  readonly #live = new Map<string, T>();
  #file: Deno.FsFile;
  #lines = 0;
  // Lines not written yet, and who waits for them; written together at the end of the turn.
  #pending: Pending[] = [];
  // Writes wait here while the file is being compacted, and are written to the new one.
  #compacting: Promise<void> | undefined;
  // Group commit of fsyncs: the waiters of writes made since the running fsync started.
  #syncWaiters: Waiter[] = [];
  #dirty = false;
  #syncing: Promise<void> | undefined;
  #closed = false;

  /** Opens (creating the directory and file) `<dir>/<name>` and replays it; synchronous. */
  constructor(dir: string, name: string, options: SpoolOptions<T>) {
    Deno.mkdirSync(dir, { recursive: true });
    this.path = join(dir, name);
    this.#options = { sync: "fsync", ...options };
    this.#replay();
    this.#file = Deno.openSync(this.path, { append: true, create: true });
  }

  /** Records kept, in the order first written. */
  values(): T[] {
    return [...this.#live.values()];
  }

  /** How many records are kept. */
  get size(): number {
    return this.#live.size;
  }

  /** Stores `record` (replacing one of the same key); resolves once it is durable (see sync). */
  put(record: T): Promise<void> {
    this.#live.set(this.#options.key(record), record);
    return this.#append({ put: record });
  }

  /** Forgets the record of `id`; resolves once that is durable (see sync). */
  ack(id: string): Promise<void> {
    if (!this.#live.delete(id)) return Promise.resolve();
    return this.#append({ ack: id });
  }

  /** Writes and fsyncs what is pending and closes the file; later writes reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#compacting;
    this.#flush();
    this.#dirty = true;
    this.#syncing ??= this.#syncLoop();
    await this.#syncing;
    this.#file.close();
  }

  #replay(): void {
    let text = "";
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    for (const raw of text.split("\n")) {
      if (raw === "") continue;
      let line: Line<T>;
      try {
        line = JSON.parse(raw);
      } catch {
        continue; // A line torn by a crash in the middle of a write was never acknowledged.
      }
      this.#lines++;
      if ("put" in line) this.#live.set(this.#options.key(line.put), line.put);
      else this.#live.delete(line.ack);
    }
  }

  #append(line: Line<T>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`The spool ${this.path} is closed`));
    const done = Promise.withResolvers<void>();
    this.#pending.push({ line: JSON.stringify(line) + "\n", done });
    // The first line of a turn schedules the write; a compaction writes what waits when it ends.
    if (this.#pending.length === 1 && !this.#compacting) queueMicrotask(() => this.#flush());
    return done.promise;
  }

  // One write for every line of the turn: appending a few hundred bytes to the OS's cache takes
  // microseconds, less than handing it to another thread would.
  #flush(): void {
    if (this.#pending.length === 0 || this.#compacting) return;
    const batch = this.#pending;
    this.#pending = [];
    const waiters = batch.map((each) => each.done);
    try {
      writeAllSync(this.#file, batch.map((each) => each.line).join(""));
    } catch (error) {
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    this.#lines += waiters.length;
    if (this.#options.sync === "fsync") this.#syncWaiters.push(...waiters);
    else for (const waiter of waiters) waiter.resolve();
    this.#dirty = true;
    this.#syncing ??= this.#syncLoop();
    if (this.#shouldCompact()) {
      this.#compacting = this.#compact().catch(() => {}).finally(() => {
        this.#compacting = undefined;
        this.#flush();
      });
    }
  }

  // Each fsync covers every write made before it started; writes made meanwhile wait for the next.
  async #syncLoop(): Promise<void> {
    while (this.#dirty) {
      // Every fsync stalls the other writes to the disk a while (the database's among them): in
      // write mode, where nobody waits for it, one in a few milliseconds covers a burst.
      if (this.#options.sync === "write" && !this.#closed) await sleep(BACKGROUND_SYNC_DELAY_MS);
      this.#dirty = false;
      const waiters = this.#syncWaiters;
      this.#syncWaiters = [];
      try {
        await this.#file.syncData();
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of waiters) waiter.reject(error);
        if (waiters.length === 0) this.#options.onSyncError?.(error);
      }
    }
    this.#syncing = undefined;
  }

  #shouldCompact(): boolean {
    if (this.#live.size === 0) return this.#lines >= COMPACT_EMPTY_LINES;
    return this.#lines >= COMPACT_LINES && this.#lines > 2 * this.#live.size;
  }

  // The live records as they are now go to a new file; lines written after this point wait in
  // #pending (see #append), and go to the new file once it has replaced the old one.
  async #compact(): Promise<void> {
    const temporary = `${this.path}.tmp`;
    const lines = [...this.#live.values()].map((put) => JSON.stringify({ put }) + "\n");
    const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      writeAllSync(file, lines.join(""));
      await file.syncData();
    } finally {
      file.close();
    }
    await this.#syncing;
    await Deno.rename(temporary, this.path);
    this.#file.close();
    this.#file = await Deno.open(this.path, { append: true });
    this.#lines = lines.length;
  }
}

function writeAllSync(file: Deno.FsFile, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
}
