// One suite, run against SQLite and PostgreSQL: both stores must behave the same to the gateway.
// PostgreSQL is required, not optional: when it is unreachable these tests fail.
import postgres from "postgres";
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { PostgresStore } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";
import type { AuditEntry, Store } from "./types.ts";

const DATABASE_URL = Deno.env.get("TEST_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

/** A throwaway database: stores opened on it share its data. */
interface TestDatabase {
  open(): Store;
  dispose(): Promise<void>;
}

interface Backend {
  name: string;
  create(): Promise<TestDatabase>;
}

const sqlite: Backend = {
  name: "sqlite",
  async create() {
    const dataDir = await Deno.makeTempDir({ prefix: "gateway_store_" });
    return {
      open: () => new SqliteStore({ dataDir }),
      dispose: () => Deno.remove(dataDir, { recursive: true }),
    };
  },
};

// A schema per test keeps parallel test files and concurrent runs apart on one server.
const pg: Backend = {
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

type Open = () => Store;

async function withDatabase(backend: Backend, fn: (open: Open) => Promise<void>): Promise<void> {
  const database = await backend.create();
  const opened: Store[] = [];
  try {
    await fn(() => {
      const store = database.open();
      opened.push(store);
      return store;
    });
  } finally {
    for (const store of opened) await store.close();
    await database.dispose();
  }
}

async function migrated(open: Open): Promise<Store> {
  const store = open();
  await store.migrate();
  return store;
}

function audit(overrides: Partial<AuditEntry>): AuditEntry {
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cases: Record<string, (open: Open) => Promise<void>> = {
  async "a created tenant can be read back with its balance"(open) {
    const store = await migrated(open);
    const before = Date.now();
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 2_500_000 });
    assertEquals(tenant.name, "Acme");
    assertEquals(tenant.balanceMicros, 2_500_000);
    assert(tenant.createdAt.getTime() >= before - 1000, "createdAt is recent");
    assertEquals(await store.getTenant(tenant.id), tenant);
  },

  async "the tenant count follows the tenants created"(open) {
    const store = await migrated(open);
    assertEquals(await store.countTenants(), 0);
    await store.createTenant({ name: "One", balanceMicros: 0 });
    await store.createTenant({ name: "Two", balanceMicros: 0 });
    assertEquals(await store.countTenants(), 2);
  },

  async "an unknown tenant reads as undefined"(open) {
    const store = await migrated(open);
    assertEquals(await store.getTenant("tnt_missing"), undefined);
    assertEquals(await store.addCredits("tnt_missing", 5), undefined);
  },

  async "concurrent credits from two processes add up exactly"(open) {
    const [a, b] = [await migrated(open), await migrated(open)];
    const tenant = await a.createTenant({ name: "Acme", balanceMicros: 0 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).addCredits(tenant.id, i + 1)),
    );
    assertEquals((await a.getTenant(tenant.id))?.balanceMicros, (50 * 51) / 2);
    const seen = new Set(results.map((result) => result?.balanceMicros));
    assertEquals(seen.size, 50, "every addition saw a distinct balance");
    assertEquals((await a.addCredits(tenant.id, -275))?.balanceMicros, 1000);
  },

  async "balances keep one micro-dollar precision and large values"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Big", balanceMicros: 1 });
    assertEquals((await store.addCredits(tenant.id, 9e12))?.balanceMicros, 9_000_000_000_001);
    assertEquals((await store.getTenant(tenant.id))?.balanceMicros, 9_000_000_000_001);
    const max = await store.createTenant({ name: "Max", balanceMicros: Number.MAX_SAFE_INTEGER });
    assertEquals((await store.getTenant(max.id))?.balanceMicros, Number.MAX_SAFE_INTEGER);
  },

  async "amounts that are not safe integers are refused and change nothing"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 10 });
    const error = await assertRejects(() => store.addCredits(tenant.id, 0.5));
    assert(error instanceof RangeError, "a fractional amount is a RangeError");
    await assertRejects(() => store.createTenant({ name: "Float", balanceMicros: 1.5 }));
    const max = await store.createTenant({ name: "Max", balanceMicros: Number.MAX_SAFE_INTEGER });
    await assertRejects(() => store.addCredits(max.id, 1));
    assertEquals((await store.getTenant(max.id))?.balanceMicros, Number.MAX_SAFE_INTEGER);
    assertEquals((await store.getTenant(tenant.id))?.balanceMicros, 10);
  },

  async "keys are found by hash and listed oldest first"(open) {
    const store = await migrated(open);
    const acme = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const other = await store.createTenant({ name: "Other", balanceMicros: 0 });
    const created = [];
    for (const name of ["first", "second", "third"]) {
      const input = { tenantId: acme.id, name, keyHash: `hash-${name}`, prefix: `sk-${name}` };
      created.push(await store.createApiKey(input));
    }
    await store.createApiKey({ tenantId: other.id, name: "x", keyHash: "hash-x", prefix: "sk-x" });
    assertEquals(created[0].tenantId, acme.id);
    assertEquals(created[0].revokedAt, null);
    assertEquals(await store.listApiKeys(acme.id), created);
    assertEquals(await store.findApiKeyByHash("hash-second"), created[1]);
    assertEquals(await store.findApiKeyByHash("hash-none"), undefined);
    assertEquals(await store.listApiKeys("tnt_missing"), []);
  },

  async "revoking a key twice keeps the first revocation time"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const key = await store.createApiKey({
      tenantId: tenant.id,
      name: "ci",
      keyHash: "hash-ci",
      prefix: "sk-ci",
    });
    const revoked = await store.revokeApiKey(key.id);
    assert(revoked?.revokedAt instanceof Date, "revokedAt is set");
    await sleep(5);
    assertEquals((await store.revokeApiKey(key.id))?.revokedAt, revoked.revokedAt);
    assertEquals((await store.findApiKeyByHash("hash-ci"))?.revokedAt, revoked.revokedAt);
    assertEquals(await store.revokeApiKey("key_missing"), undefined);
  },

  async "a key hash stored twice is refused"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const input = { tenantId: tenant.id, name: "a", keyHash: "same", prefix: "sk-a" };
    await store.createApiKey(input);
    await assertRejects(() => store.createApiKey({ ...input, name: "b" }));
    assertEquals((await store.listApiKeys(tenant.id)).length, 1);
  },

  async "a key for an unknown tenant is refused"(open) {
    const store = await migrated(open);
    await assertRejects(() =>
      store.createApiKey({ tenantId: "tnt_missing", name: "a", keyHash: "h", prefix: "sk" })
    );
  },

  async "audit entries round-trip with their details"(open) {
    const store = await migrated(open);
    const details = { amountMicros: 1, nested: { list: [1, "two", null], ok: true }, text: "ü\"'" };
    const entry = audit({ tenantId: "tnt_a", target: "key_1", traceId: "trace-1", details });
    await store.writeAudit([entry]);
    await store.writeAudit([]);
    const [record] = await store.listAudit({});
    assertEquals({ ...record, id: 0, createdAt: new Date(0) }, {
      ...entry,
      id: 0,
      createdAt: new Date(0),
    });
    assert(Number.isSafeInteger(record.id), "ids are numbers");
  },

  async "audit filters narrow by tenant, trace id and limit, newest first"(open) {
    const store = await migrated(open);
    await store.writeAudit([
      audit({ action: "a1", tenantId: "tnt_a", traceId: "t1" }),
      audit({ action: "a2", tenantId: "tnt_a", traceId: "t2" }),
      audit({ action: "b1", tenantId: "tnt_b", traceId: "t1" }),
    ]);
    await store.writeAudit([audit({ action: "a3", tenantId: "tnt_a" })]);
    const actions = async (filter: Parameters<Store["listAudit"]>[0]) =>
      (await store.listAudit(filter)).map((record) => record.action);
    assertEquals(await actions({}), ["a3", "b1", "a2", "a1"]);
    assertEquals(await actions({ tenantId: "tnt_a" }), ["a3", "a2", "a1"]);
    assertEquals(await actions({ traceId: "t1" }), ["b1", "a1"]);
    assertEquals(await actions({ tenantId: "tnt_a", traceId: "t1" }), ["a1"]);
    assertEquals(await actions({ tenantId: "tnt_a", limit: 2 }), ["a3", "a2"]);
    assertEquals(await actions({ tenantId: "tnt_none" }), []);
    await assertRejects(() => store.listAudit({ limit: 0 }));
  },

  async "audit filters by time include both ends"(open) {
    const store = await migrated(open);
    await store.writeAudit([audit({ action: "early" })]);
    await sleep(20);
    await store.writeAudit([audit({ action: "late" })]);
    const [late, early] = await store.listAudit({});
    assert(late.createdAt > early.createdAt, "later writes have later times");
    const actions = async (filter: Parameters<Store["listAudit"]>[0]) =>
      (await store.listAudit(filter)).map((record) => record.action);
    assertEquals(await actions({ since: late.createdAt }), ["late"]);
    assertEquals(await actions({ until: early.createdAt }), ["early"]);
    assertEquals(await actions({ since: early.createdAt, until: late.createdAt }), [
      "late",
      "early",
    ]);
    assertEquals(await actions({ since: new Date(late.createdAt.getTime() + 1) }), []);
  },

  async "migrating again keeps the data"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 7 });
    await store.migrate();
    const again = await migrated(open);
    assertEquals(await again.getTenant(tenant.id), tenant);
  },

  async "two processes migrating a fresh database at once both succeed"(open) {
    const [a, b] = [open(), open()];
    await Promise.all([a.migrate(), b.migrate()]);
    const tenant = await a.createTenant({ name: "Acme", balanceMicros: 1 });
    assertEquals(await b.getTenant(tenant.id), tenant);
  },

  async "ping answers while the database is up"(open) {
    const store = await migrated(open);
    await store.ping();
  },
};

for (const backend of [sqlite, pg]) {
  for (const [name, fn] of Object.entries(cases)) {
    Deno.test(`${backend.name}: ${name}`, () => withDatabase(backend, fn));
  }
}
