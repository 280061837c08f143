/**
 * @module
 * The embedded store's background writes (settlements, audit records, stored responses) on a second SQLite
 * connection in a `Worker`. SQLite's calls block the thread that makes them: on the main thread a
 * settlement's transaction holds up every request that arrives while it runs, so a request at one
 * connection would wait for the billing of the one before it. The worker's thread takes that
 * time instead, and the event loop only posts a message.
 *
 * The worker runs the gateway's own entry module (so the same code serves `deno run`, the bundle
 * and the compiled executable), which calls {@linkcode serveSqliteWrites} when it finds itself
 * started under {@linkcode SQLITE_WRITER_WORKER}.
 */
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./types.ts";

/** Where the embedded store's background writes run (`SQLITE_WRITER`). */
export type SqliteWriterPlacement = "auto" | "worker" | "event-loop";

/**
 * Whether the background writes get a worker: on one CPU (`cpus`, which follows the process's
 * affinity) the worker's thread would only take turns with the event loop's, adding a message
 * each way and a second JavaScript heap to every write.
 */
export function usesSqliteWorker(
  placement: SqliteWriterPlacement,
  cpus: number = navigator.hardwareConcurrency,
): boolean {
  return placement === "worker" || (placement === "auto" && cpus > 1);
}

/** The name a worker is started under to serve SQLite writes. */
export const SQLITE_WRITER_WORKER = "gateway-sqlite-writer";

/** The writes a {@linkcode SqliteWriter} takes off the main thread. */
export type BackgroundWrites = Pick<
  Store,
  "settle" | "settleMany" | "writeAudit" | "saveResponses" | "flushToDisk"
>;

type Method = Exclude<keyof BackgroundWrites, "flushToDisk">;

const METHODS: readonly Method[] = ["settle", "settleMany", "writeAudit", "saveResponses"];

type Request =
  | { kind: "open"; id: number; dataDir: string; busyTimeoutMs?: number }
  | { kind: "call"; id: number; method: Method; args: unknown[] };

type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; name: string; message: string };

/** What a {@linkcode SqliteWriter} is built from. */
export interface SqliteWriterOptions {
  /** The folder of the SQLite file, as given to the main thread's {@linkcode SqliteStore}. */
  dataDir: string;
  /**
   * The main thread's store on the same file: its fsync of the write-ahead log also covers what
   * the worker committed, without a round trip to the worker.
   */
  store: Pick<Store, "flushToDisk">;
  /** The gateway's entry module, which serves writes when started as a worker. */
  entry: URL;
  busyTimeoutMs?: number;
}

/**
 * The main thread's side: every call becomes a message to the worker, answered by the worker's
 * store. A worker that dies fails the calls it had (their jobs are retried by the queue) and is
 * started again by the next call.
 */
export class SqliteWriter implements BackgroundWrites {
  readonly #options: SqliteWriterOptions;
  readonly #pending = new Map<number, PromiseWithResolvers<unknown>>();
  #worker: Worker | undefined;
  #opening: Promise<unknown> | undefined;
  #nextId = 1;
  #closed = false;

  constructor(options: SqliteWriterOptions) {
    this.#options = options;
  }

  settle(...args: Parameters<Store["settle"]>): ReturnType<Store["settle"]> {
    return this.#call("settle", args) as ReturnType<Store["settle"]>;
  }

  settleMany(...args: Parameters<Store["settleMany"]>): ReturnType<Store["settleMany"]> {
    return this.#call("settleMany", args) as ReturnType<Store["settleMany"]>;
  }

  writeAudit(...args: Parameters<Store["writeAudit"]>): ReturnType<Store["writeAudit"]> {
    return this.#call("writeAudit", args) as ReturnType<Store["writeAudit"]>;
  }

  saveResponses(...args: Parameters<Store["saveResponses"]>): ReturnType<Store["saveResponses"]> {
    return this.#call("saveResponses", args) as ReturnType<Store["saveResponses"]>;
  }

  flushToDisk(): Promise<void> {
    return this.#options.store.flushToDisk();
  }

  /**
   * Starts the worker and resolves once it has opened the file, so that a writer that cannot run
   * stops the gateway's start instead of failing every settlement later.
   */
  open(): Promise<void> {
    return this.#started() as Promise<void>;
  }

  /** Waits for the calls in flight, then stops the worker; later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#pending.values()].map((call) => call.promise));
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #call(method: Method, args: unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("The SQLite writer is closed"));
    void this.#started();
    return this.#send((id) => ({ kind: "call", id, method, args }));
  }

  #send(request: (id: number) => Request): Promise<unknown> {
    const id = this.#nextId++;
    const call = Promise.withResolvers<unknown>();
    this.#pending.set(id, call);
    this.#worker!.postMessage(request(id));
    return call.promise;
  }

  /** The worker's opening: started now when there is no worker. */
  #started(): Promise<unknown> {
    if (this.#worker) return this.#opening!;
    const worker = new Worker(this.#options.entry, { type: "module", name: SQLITE_WRITER_WORKER });
    worker.onmessage = (event: MessageEvent<Reply>) => this.#answer(event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(worker, new Error(`The SQLite writer stopped: ${event.message}`));
    };
    worker.onmessageerror = () => {
      this.#fail(worker, new Error("The SQLite writer sent an answer that could not be read"));
    };
    this.#worker = worker;
    const { dataDir, busyTimeoutMs } = this.#options;
    this.#opening = this.#send((id) => ({ kind: "open", id, dataDir, busyTimeoutMs }));
    // The calls behind a failed opening fail with it, and the next call starts a new worker.
    this.#opening.catch((error) => this.#fail(worker, error));
    return this.#opening;
  }

  #answer(reply: Reply): void {
    const call = this.#pending.get(reply.id);
    if (!call) return;
    this.#pending.delete(reply.id);
    if (reply.ok) call.resolve(reply.value);
    else call.reject(Object.assign(new Error(reply.message), { name: reply.name }));
  }

  #fail(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    worker.terminate();
    this.#worker = undefined;
    this.#opening = undefined;
    for (const call of this.#pending.values()) call.reject(error);
    this.#pending.clear();
  }
}

/** The worker's scope, as much of it as this module uses. */
interface WorkerScope {
  name?: string;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
  postMessage(message: Reply): void;
}

/** Whether this code runs in the worker a {@linkcode SqliteWriter} started. */
export function isSqliteWriterWorker(): boolean {
  return (globalThis as unknown as WorkerScope).name === SQLITE_WRITER_WORKER;
}

/**
 * The worker's side: opens its own connection to the file the main thread migrated, and runs
 * each call on it.
 */
export function serveSqliteWrites(): void {
  const scope = globalThis as unknown as WorkerScope;
  let store: SqliteStore | undefined;
  scope.onmessage = ({ data: request }) => void answer(request.id, () => run(request));
  const run = (request: Request) => {
    if (request.kind === "open") {
      const { dataDir, busyTimeoutMs } = request;
      store = new SqliteStore({ dataDir, busyTimeoutMs });
      return Promise.resolve();
    }
    if (!store) throw new Error("The SQLite writer was called before it was opened");
    if (!METHODS.includes(request.method)) throw new TypeError(`No such write: ${request.method}`);
    const write = store[request.method] as (...args: unknown[]) => Promise<unknown>;
    return write.apply(store, request.args);
  };
  const answer = async (id: number, work: () => Promise<unknown>) => {
    try {
      scope.postMessage({ id, ok: true, value: await work() });
    } catch (error) {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      scope.postMessage({ id, ok: false, name, message });
    }
  };
}
