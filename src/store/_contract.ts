// The contract suites' setup: each case runs against SQLite and PostgreSQL, which must behave the
// same to the gateway. PostgreSQL is required, not optional: when it is unreachable tests fail.
import postgres from "postgres";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { assert, assertRejects } from "../../tests/assert.ts";
import { PostgresStore } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";
import type { AuditEntry, Store } from "./types.ts";

/** The PostgreSQL server the suites use; TEST_DATABASE_URL overrides it. */
export const DATABASE_URL = Deno.env.get("TEST_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

/** SQL for each dialect, run on the test database outside any store. */
export interface RawSql {
  postgres: string;
  sqlite: string;
}

/** A throwaway database: stores opened on it share its data. */
interface TestDatabase {
  open(): Store;
  /** Runs the dialect's SQL directly, in one transaction, for tests that set up old schemas. */
  exec(sql: RawSql): Promise<void>;
  /** Reads rows with SQL both dialects accept, outside any store. */
  query(sql: string): Promise<Row[]>;
  dispose(): Promise<void>;
}

/** A row read by {@linkcode Query}; PostgreSQL gives bigint columns as strings. */
export type Row = Record<string, unknown>;

/** A backend the suites run against. */
export interface Backend {
  name: string;
  create(): Promise<TestDatabase>;
}

/** Each case gets a temporary folder with its own SQLite file. */
export const sqlite: Backend = {
  name: "sqlite",
  async create() {
    const dataDir = await Deno.makeTempDir({ prefix: "gateway_store_" });
    return {
      open: () => new SqliteStore({ dataDir }),
      exec(sql) {
        return Promise.try(() => {
          const db = new DatabaseSync(join(dataDir, "gateway.db"));
          try {
            db.exec(`BEGIN IMMEDIATE; ${sql.sqlite}; COMMIT`);
          } catch (error) {
            if (db.isTransaction) db.exec("ROLLBACK");
            throw error;
          } finally {
            db.close();
          }
        });
      },
      query(sql) {
        return Promise.try(() => {
          const db = new DatabaseSync(join(dataDir, "gateway.db"), { readOnly: true });
          try {
            return db.prepare(sql).all() as Row[];
          } finally {
            db.close();
          }
        });
      },
      dispose: () => Deno.remove(dataDir, { recursive: true }),
    };
  },
};

// A schema per test keeps parallel test files and concurrent runs apart on one server.
/** Each case gets a schema of its own on the test server, dropped afterwards. */
export const pg: Backend = {
  name: "postgres",
  async create() {
    const admin = postgres(DATABASE_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
    const schema = `test_${crypto.randomUUID().replaceAll("-", "")}`;
    try {
      await admin.unsafe(`CREATE SCHEMA ${schema}`);
    } catch (error) {
      await admin.end();
      throw new Error(`PostgreSQL at ${new URL(DATABASE_URL).host} is required for these tests`, {
        cause: error,
      });
    }
    return {
      open: () => new PostgresStore({ url: DATABASE_URL, schema, connectTimeoutSeconds: 5 }),
      async exec(sql) {
        await admin.begin(async (tx) => {
          await tx.unsafe(`SET LOCAL search_path TO ${schema}`);
          await tx.unsafe(sql.postgres);
        });
      },
      query: (sql) =>
        admin.begin(async (tx) => {
          await tx.unsafe(`SET LOCAL search_path TO ${schema}`);
          return [...await tx.unsafe(sql)] as Row[];
        }),
      async dispose() {
        try {
          await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
        } finally {
          await admin.end();
        }
      },
    };
  },
};

/** Opens another store on the case's database (another process, as far as the store knows). */
export type Open = () => Store;
/** Runs raw SQL on the case's database. */
export type Exec = (sql: RawSql) => Promise<void>;
/** Reads rows from the case's database. */
export type Query = (sql: string) => Promise<Row[]>;
/** One contract case. */
export type Case = (open: Open, exec: Exec, query: Query) => Promise<void>;

/** Runs `fn` on a fresh database of `backend`, closing every store it opened. */
export async function withDatabase(backend: Backend, fn: Case): Promise<void> {
  const database = await backend.create();
  const opened: Store[] = [];
  try {
    await fn(
      () => {
        const store = database.open();
        opened.push(store);
        return store;
      },
      (sql) => database.exec(sql),
      (sql) => database.query(sql),
    );
  } finally {
    for (const store of opened) await store.close();
    await database.dispose();
  }
}

/** A store on the case's database, migrated. */
export async function migrated(open: Open): Promise<Store> {
  const store = open();
  await store.migrate();
  return store;
}

/** An audit entry with defaults for the fields not given. */
export function audit(overrides: Partial<AuditEntry>): AuditEntry {
  return {
    actor: "admin",
    action: "tenant.create",
    tenantId: null,
    target: null,
    traceId: null,
    details: {},
    ...overrides,
  };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asserts that `fn` rejects with an error of `kind`. */
export async function rejectsWith(kind: typeof Error, fn: () => Promise<unknown>): Promise<void> {
  const error = await assertRejects(fn);
  assert(error instanceof kind, `expected a ${kind.name}, got ${error}`);
}

/** Registers every case once per backend, named `<backend>: <case>`. */
export function contractSuite(cases: Record<string, Case>): void {
  for (const backend of [sqlite, pg]) {
    for (const [name, fn] of Object.entries(cases)) {
      Deno.test(`${backend.name}: ${name}`, () => withDatabase(backend, fn));
    }
  }
}
