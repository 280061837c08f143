// The on-disk spool: a durable map from job id to a record, kept as an append-only file of JSON
// lines ({"put": record} or {"ack": id}) that is fsync'd before a write resolves and rewritten
// (to a temporary file, then renamed) once most of its lines are superseded.
import { join } from "node:path";

type Line<T> = { put: T } | { ack: string };
type Pending = { line: string; done: PromiseWithResolvers<void> };

// Rewrite the file when it holds this many lines and more than twice the live records, or when
// nothing is live any more and it holds a few lines.
const COMPACT_LINES = 1000;
const COMPACT_EMPTY_LINES = 64;

/** A durable map of records, replayed from its file when opened. */
export class Spool<T> {
  readonly path: string;
  readonly #key: (record: T) => string;
  readonly #live = new Map<string, T>();
  #file: Deno.FsFile;
  #lines = 0;
  #pending: Pending[] = [];
  #writing: Promise<void> | undefined;
  #closed = false;

  /** Opens (creating the directory and file) `<dir>/<name>` and replays it; synchronous. */
  constructor(dir: string, name: string, key: (record: T) => string) {
    Deno.mkdirSync(dir, { recursive: true });
    this.path = join(dir, name);
    this.#key = key;
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

  /** Stores `record` (replacing one of the same key); resolves once it is on disk. */
  put(record: T): Promise<void> {
    this.#live.set(this.#key(record), record);
    return this.#append({ put: record });
  }

  /** Forgets the record of `id`; resolves once that is on disk. */
  ack(id: string): Promise<void> {
    if (!this.#live.delete(id)) return Promise.resolve();
    return this.#append({ ack: id });
  }

  /** Writes what is pending and closes the file; later writes reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writing;
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
      if ("put" in line) this.#live.set(this.#key(line.put), line.put);
      else this.#live.delete(line.ack);
    }
  }

  #append(line: Line<T>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`The spool ${this.path} is closed`));
    const done = Promise.withResolvers<void>();
    this.#pending.push({ line: JSON.stringify(line) + "\n", done });
    this.#writing ??= this.#drain();
    return done.promise;
  }

  // One write and one fsync for every line that arrived meanwhile (group commit): a burst of
  // enqueues costs a few fsyncs, not one each.
  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0);
      try {
        await writeAll(this.#file, batch.map((each) => each.line).join(""));
        await this.#file.syncData();
        this.#lines += batch.length;
        for (const each of batch) each.done.resolve();
      } catch (error) {
        for (const each of batch) each.done.reject(error);
      }
      if (this.#shouldCompact()) await this.#compact().catch(() => {});
    }
    this.#writing = undefined;
  }

  #shouldCompact(): boolean {
    if (this.#live.size === 0) return this.#lines >= COMPACT_EMPTY_LINES;
    return this.#lines >= COMPACT_LINES && this.#lines > 2 * this.#live.size;
  }

  async #compact(): Promise<void> {
    const temporary = `${this.path}.tmp`;
    const lines = [...this.#live.values()].map((put) => JSON.stringify({ put }) + "\n");
    const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, lines.join(""));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, this.path);
    this.#file.close();
    this.#file = await Deno.open(this.path, { append: true });
    this.#lines = lines.length;
  }
}

async function writeAll(file: Deno.FsFile, text: string): Promise<void> {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
}
