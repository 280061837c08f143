// One suite, run against SQLite and PostgreSQL: both stores must behave the same to the gateway.
// PostgreSQL is required, not optional: when it is unreachable these tests fail. Money (reserve,
// settle, the ledger) has its own file, store_contract_money_test.ts.
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { MIGRATIONS, SCHEMA_MIGRATIONS_DDL } from "./migrations.ts";
import type { ApiKey, Store, TenantPatch } from "./types.ts";
import {
  audit,
  type Case,
  contractSuite,
  migrated,
  type RawSql,
  rejectsWith,
  sleep,
} from "./_contract.ts";

const cases: Record<string, Case> = {
  async "a created tenant can be read back with its balance"(open) {
    const store = await migrated(open);
    const before = Date.now();
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 2_500_000 });
    assertEquals(tenant.name, "Acme");
    assertEquals(tenant.balanceMicros, 2_500_000);
    assertEquals([tenant.rpmLimit, tenant.tpmLimit], [null, null]);
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

  async "tenants are listed oldest first, page by page"(open) {
    const store = await migrated(open);
    assertEquals(await store.listTenants({ offset: 0, limit: 10 }), []);
    const created = [];
    for (const name of ["one", "two", "three", "four", "five"]) {
      created.push(await store.createTenant({ name, balanceMicros: 0 }));
    }
    assertEquals(await store.listTenants({ offset: 0, limit: 2 }), created.slice(0, 2));
    assertEquals(await store.listTenants({ offset: 2, limit: 2 }), created.slice(2, 4));
    assertEquals(await store.listTenants({ offset: 4, limit: 100 }), created.slice(4));
    assertEquals(await store.listTenants({ offset: 5, limit: 1 }), []);
    await rejectsWith(RangeError, () => store.listTenants({ offset: -1, limit: 1 }));
    await rejectsWith(RangeError, () => store.listTenants({ offset: 0, limit: 0 }));
  },

  async "tenants low on balance and keys near their budget are found, the least left first"(
    open,
  ) {
    const store = await migrated(open);
    const rich = await store.createTenant({ name: "Rich", balanceMicros: 50_000_000 });
    await store.createTenant({ name: "Low", balanceMicros: 900_000 });
    await store.createTenant({ name: "Broke", balanceMicros: 0 });
    const held = await store.createTenant({ name: "Held", balanceMicros: 3_000_000 });
    const key = (tenantId: string, name: string, budgetMicros: number | null) =>
      store.createApiKey({ tenantId, name, keyHash: `hash-${name}`, prefix: "sk-x", budgetMicros });
    const full = await key(rich.id, "full", 1_000_000);
    const eighty = await key(rich.id, "eighty", 1_000_000);
    const half = await key(rich.id, "half", 1_000_000);
    await key(rich.id, "unlimited", null);
    const revoked = await key(rich.id, "revoked", 1_000_000);
    const heldKey = await key(held.id, "held", null);
    const charge = (apiKeyId: string, costMicros: number) =>
      store.settle({
        traceId: `trace-${crypto.randomUUID()}`,
        tenantId: rich.id,
        apiKeyId,
        model: "m",
        provider: "p",
        inputTokens: 1,
        outputTokens: 1,
        costMicros,
        estimated: false,
      });
    await charge(full.id, 1_000_000);
    await charge(eighty.id, 700_000);
    await charge(half.id, 500_000);
    await charge(revoked.id, 1_000_000);
    await store.revokeApiKey(revoked.id);
    // Held money counts as used: 100,000 reserved brings "eighty" to 80 % and "Held" below 1 USD.
    const expiresAt = new Date(Date.now() + 60_000);
    const reserve = (tenantId: string, apiKeyId: string, amountMicros: number) =>
      store.reserve({
        traceId: `trace-${crypto.randomUUID()}`,
        tenantId,
        apiKeyId,
        amountMicros,
        marginMicros: 0,
        expiresAt,
      });
    assertEquals(await reserve(rich.id, eighty.id, 100_000), { ok: true });
    assertEquals(await reserve(held.id, heldKey.id, 2_500_000), { ok: true });

    const found = await store.listNearQuota({
      belowMicros: 1_000_000,
      keyBudgetRatio: 0.8,
      limit: 10,
    });
    assertEquals(found.tenants.map((tenant) => tenant.name), ["Broke", "Held", "Low"]);
    assertEquals(found.tenants[1].reservedMicros, 2_500_000);
    assertEquals(found.keys.map((each) => each.name), ["full", "eighty"]);
    assertEquals(found.keys[1], {
      ...eighty,
      spentMicros: 700_000,
      reservedMicros: 100_000,
      tenantName: "Rich",
    });
    const strict = await store.listNearQuota({ belowMicros: 1, keyBudgetRatio: 1, limit: 1 });
    assertEquals(strict.tenants.map((tenant) => tenant.name), ["Broke"]);
    assertEquals(strict.keys.map((each) => each.name), ["full"]);
    for (const keyBudgetRatio of [0, -0.5, 1.5, NaN]) {
      await rejectsWith(
        RangeError,
        () => store.listNearQuota({ belowMicros: 1, keyBudgetRatio, limit: 1 }),
      );
    }
    await rejectsWith(
      RangeError,
      () => store.listNearQuota({ belowMicros: 0.5, keyBudgetRatio: 0.8, limit: 1 }),
    );
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
    assertEquals(await store.addCredits(max.id, 1), undefined, "past a safe integer");
    assertEquals((await store.getTenant(max.id))?.balanceMicros, Number.MAX_SAFE_INTEGER);
    assertEquals((await store.getTenant(tenant.id))?.balanceMicros, 10);
  },

  async "a credit that would pass the largest balance is refused and changes nothing"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 900 });
    const capped = { maxBalanceMicros: 1000 };
    assertEquals((await store.addCredits(tenant.id, 100, capped))?.balanceMicros, 1000);
    assertEquals(await store.addCredits(tenant.id, 1, capped), undefined);
    assertEquals((await store.getTenant(tenant.id))?.balanceMicros, 1000);
    assertEquals((await store.addCredits(tenant.id, -1, capped))?.balanceMicros, 999);
    assertEquals(await store.addCredits("tnt_missing", 1, capped), undefined);
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
    assertEquals(await store.findCredential("hash-second"), { key: created[1], tenant: acme });
    assertEquals(await store.findCredential("hash-none"), undefined);
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
    const credential = await store.findCredential("hash-ci");
    assertEquals(credential?.key, revoked, "a revoked key is still found, with its revocation");
    assertEquals(credential?.tenant, tenant);
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
      audit({ action: "b1", tenantId: "tnt_b", traceId: "t1", actor: "key_1" }),
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
    assertEquals(await actions({ actor: "key_1" }), ["b1"]);
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

  async "a tenant's limits are kept as created"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({
      name: "Acme",
      balanceMicros: 0,
      rpmLimit: 60,
      tpmLimit: Number.MAX_SAFE_INTEGER,
    });
    assertEquals([tenant.rpmLimit, tenant.tpmLimit], [60, Number.MAX_SAFE_INTEGER]);
    assertEquals(await store.getTenant(tenant.id), tenant);
    const partial = await store.createTenant({ name: "Half", balanceMicros: 0, tpmLimit: 5 });
    assertEquals([partial.rpmLimit, partial.tpmLimit], [null, 5]);
  },

  async "a key's limits, budget and signing secret are kept as created"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const key = await store.createApiKey({
      tenantId: tenant.id,
      name: "signed",
      keyHash: "hash-signed",
      prefix: "sk-signed",
      rpmLimit: 10,
      tpmLimit: 20_000,
      budgetMicros: Number.MAX_SAFE_INTEGER,
      requireSignature: true,
      signingSecretSealed: "v1.sealed-secret",
    });
    assertEquals(
      [key.rpmLimit, key.tpmLimit, key.budgetMicros, key.requireSignature, key.signingSecretSealed],
      [10, 20_000, Number.MAX_SAFE_INTEGER, true, "v1.sealed-secret"],
    );
    assertEquals((await store.findCredential("hash-signed"))?.key, key);
    assertEquals(await store.listApiKeys(tenant.id), [key]);
    // A secret may exist before it is required; a budget of zero is a budget, not "none".
    const optional = await store.createApiKey({
      tenantId: tenant.id,
      name: "optional",
      keyHash: "hash-optional",
      prefix: "sk-optional",
      budgetMicros: 0,
      requireSignature: false,
      signingSecretSealed: "v1.other",
    });
    assertEquals([optional.budgetMicros, optional.requireSignature], [0, false]);
    assertEquals(optional.signingSecretSealed, "v1.other");
  },

  async "a key created without settings has no limits, no budget and no signature"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const key = await store.createApiKey({
      tenantId: tenant.id,
      name: "plain",
      keyHash: "hash-plain",
      prefix: "sk-plain",
    });
    const expected: Partial<ApiKey> = {
      rpmLimit: null,
      tpmLimit: null,
      budgetMicros: null,
      requireSignature: false,
      signingSecretSealed: null,
    };
    assertEquals({ ...key, ...expected }, key);
    const explicit = await store.createApiKey({
      tenantId: tenant.id,
      name: "nulls",
      keyHash: "hash-nulls",
      prefix: "sk-nulls",
      ...expected,
    });
    assertEquals({ ...explicit, ...expected }, explicit);
    assertEquals((await store.findCredential("hash-plain"))?.key, key);
  },

  async "a key that requires a signature without a sealed secret is refused"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const input = { tenantId: tenant.id, name: "k", keyHash: "hash-k", prefix: "sk-k" };
    await rejectsWith(TypeError, () => store.createApiKey({ ...input, requireSignature: true }));
    await rejectsWith(
      TypeError,
      () => store.createApiKey({ ...input, requireSignature: true, signingSecretSealed: null }),
    );
    assertEquals(await store.listApiKeys(tenant.id), []);
  },

  async "limits and budgets that are not safe integers in range are refused and store nothing"(
    open,
  ) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    for (const limit of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN, Infinity]) {
      await rejectsWith(
        RangeError,
        () => store.createTenant({ name: "Bad", balanceMicros: 0, rpmLimit: limit }),
      );
      await rejectsWith(
        RangeError,
        () => store.createTenant({ name: "Bad", balanceMicros: 0, tpmLimit: limit }),
      );
    }
    const key = { tenantId: tenant.id, name: "k", keyHash: "hash-k", prefix: "sk-k" };
    for (const settings of [{ rpmLimit: 0 }, { tpmLimit: -5 }, { budgetMicros: -1 }]) {
      await rejectsWith(RangeError, () => store.createApiKey({ ...key, ...settings }));
    }
    await rejectsWith(RangeError, () => store.createApiKey({ ...key, budgetMicros: 0.5 }));
    await rejectsWith(
      RangeError,
      () => store.createApiKey({ ...key, budgetMicros: Number.MAX_SAFE_INTEGER + 1 }),
    );
    assertEquals(await store.countTenants(), 1);
    assertEquals(await store.listApiKeys(tenant.id), []);
  },

  async "updating a tenant changes only the fields given, and null clears a limit"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({
      name: "Acme",
      balanceMicros: 7,
      rpmLimit: 100,
      tpmLimit: 1000,
    });
    const other = await store.createTenant({ name: "Other", balanceMicros: 0, rpmLimit: 1 });
    const raised = await store.updateTenant(tenant.id, { tpmLimit: 2000 });
    assertEquals(raised, { ...tenant, tpmLimit: 2000 });
    const cleared = await store.updateTenant(tenant.id, { rpmLimit: null, name: "Acme Ltd" });
    assertEquals(cleared, { ...tenant, name: "Acme Ltd", rpmLimit: null, tpmLimit: 2000 });
    assertEquals(await store.getTenant(tenant.id), cleared);
    assertEquals(await store.updateTenant(tenant.id, {}), cleared);
    assertEquals(await store.updateTenant(tenant.id, { tpmLimit: undefined }), cleared);
    // Fields a patch does not define are ignored, whatever the caller passes.
    const sneaky = { balanceMicros: 1_000_000, id: "tnt_other" } as TenantPatch;
    assertEquals(await store.updateTenant(tenant.id, sneaky), cleared);
    assertEquals(await store.getTenant(other.id), other);
  },

  async "updating a tenant that does not exist or with invalid limits changes nothing"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0, rpmLimit: 5 });
    assertEquals(await store.updateTenant("tnt_missing", { rpmLimit: 1 }), undefined);
    assertEquals(await store.updateTenant("tnt_missing", {}), undefined);
    for (const rpmLimit of [0, -3, 2.5, Number.MAX_SAFE_INTEGER + 1]) {
      await rejectsWith(RangeError, () => store.updateTenant(tenant.id, { name: "X", rpmLimit }));
    }
    await rejectsWith(RangeError, () => store.updateTenant(tenant.id, { tpmLimit: 0 }));
    assertEquals(await store.getTenant(tenant.id), tenant);
  },

  async "updating a key changes only the fields given, and null clears a limit or the budget"(
    open,
  ) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const key = await store.createApiKey({
      tenantId: tenant.id,
      name: "ci",
      keyHash: "hash-ci",
      prefix: "sk-ci",
      rpmLimit: 10,
      tpmLimit: 100,
      budgetMicros: 5_000_000,
      requireSignature: true,
      signingSecretSealed: "v1.sealed",
    });
    const other = await store.createApiKey({
      tenantId: tenant.id,
      name: "other",
      keyHash: "hash-other",
      prefix: "sk-other",
      budgetMicros: 1,
    });
    const spent = await store.updateApiKey(key.id, { budgetMicros: 0 });
    assertEquals(spent, { ...key, budgetMicros: 0 });
    const cleared = await store.updateApiKey(key.id, {
      name: "deploy",
      rpmLimit: null,
      budgetMicros: null,
    });
    const expected = { ...key, name: "deploy", rpmLimit: null, budgetMicros: null };
    assertEquals(cleared, expected);
    assertEquals(await store.updateApiKey(key.id, {}), expected);
    assertEquals((await store.findCredential("hash-ci"))?.key, expected);
    assertEquals((await store.listApiKeys(tenant.id))[1], other);
    const revoked = await store.revokeApiKey(key.id);
    assertEquals(
      await store.updateApiKey(key.id, { tpmLimit: 7 }),
      { ...revoked, tpmLimit: 7 },
      "a revoked key stays revoked",
    );
  },

  async "updating a key that does not exist or with invalid values changes nothing"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    const key = await store.createApiKey({
      tenantId: tenant.id,
      name: "ci",
      keyHash: "hash-ci",
      prefix: "sk-ci",
      budgetMicros: 3,
    });
    assertEquals(await store.updateApiKey("key_missing", { name: "x" }), undefined);
    assertEquals(await store.updateApiKey("key_missing", {}), undefined);
    await rejectsWith(RangeError, () => store.updateApiKey(key.id, { budgetMicros: -1 }));
    await rejectsWith(RangeError, () => store.updateApiKey(key.id, { budgetMicros: 0.1 }));
    await rejectsWith(RangeError, () => store.updateApiKey(key.id, { rpmLimit: 0 }));
    await rejectsWith(
      RangeError,
      () => store.updateApiKey(key.id, { name: "x", tpmLimit: Number.MAX_SAFE_INTEGER + 1 }),
    );
    assertEquals(await store.listApiKeys(tenant.id), [key]);
  },

  async "a credential carries the key's own tenant as it is now"(open) {
    const store = await migrated(open);
    const acme = await store.createTenant({ name: "Acme", balanceMicros: 5, tpmLimit: 900 });
    const other = await store.createTenant({ name: "Other", balanceMicros: 9, rpmLimit: 3 });
    const key = await store.createApiKey({
      tenantId: acme.id,
      name: "acme",
      keyHash: "hash-acme",
      prefix: "sk-acme",
      rpmLimit: 2,
    });
    const otherKey = await store.createApiKey({
      tenantId: other.id,
      name: "other",
      keyHash: "hash-other",
      prefix: "sk-other",
    });
    assertEquals(await store.findCredential("hash-acme"), { key, tenant: acme });
    assertEquals(await store.findCredential("hash-other"), { key: otherKey, tenant: other });
    const credited = await store.addCredits(acme.id, 10);
    assertEquals((await store.findCredential("hash-acme"))?.tenant, credited);
    assertEquals(await store.findCredential("hash-missing"), undefined);
    assertEquals(await store.findCredential(""), undefined);
  },

  async "a database migrated to version 1 keeps its tenants and keys, which get the defaults"(
    open,
    exec,
  ) {
    const [v1] = MIGRATIONS;
    const created = new Date(1_700_000_000_000);
    await exec({
      sqlite: `${SCHEMA_MIGRATIONS_DDL.sqlite}; ${v1.sqlite};
        INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'v1', 0);
        INSERT INTO tenants (id, name, balance_micros, created_at)
          VALUES ('tnt_old', 'Old', 42, ${created.getTime()});
        INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, created_at, revoked_at)
          VALUES ('key_old', 'tnt_old', 'old', 'hash-old', 'sk-old', ${created.getTime()}, NULL),
            ('key_gone', 'tnt_old', 'gone', 'hash-gone', 'sk-gone', ${created.getTime()},
              ${created.getTime() + 1})`,
      postgres: `${SCHEMA_MIGRATIONS_DDL.postgres}; ${v1.postgres};
        INSERT INTO schema_migrations (version, name) VALUES (1, 'v1');
        INSERT INTO tenants (id, name, balance_micros, created_at)
          VALUES ('tnt_old', 'Old', 42, '${created.toISOString()}');
        INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, created_at, revoked_at)
          VALUES ('key_old', 'tnt_old', 'old', 'hash-old', 'sk-old', '${created.toISOString()}',
            NULL),
            ('key_gone', 'tnt_old', 'gone', 'hash-gone', 'sk-gone', '${created.toISOString()}',
              '${new Date(created.getTime() + 1).toISOString()}')`,
    });
    const store = await migrated(open);
    const tenant = {
      id: "tnt_old",
      name: "Old",
      balanceMicros: 42,
      reservedMicros: 0,
      rpmLimit: null,
      tpmLimit: null,
      models: null,
      budgetMicros: null,
      budgetPeriod: null,
      createdAt: created,
    };
    const key: ApiKey = {
      id: "key_old",
      tenantId: "tnt_old",
      name: "old",
      prefix: "sk-old",
      rpmLimit: null,
      tpmLimit: null,
      models: null,
      budgetMicros: null,
      budgetPeriod: null,
      spentMicros: 0,
      reservedMicros: 0,
      requireSignature: false,
      signingSecretSealed: null,
      createdAt: created,
      revokedAt: null,
    };
    assertEquals(await store.getTenant("tnt_old"), tenant);
    assertEquals(await store.findCredential("hash-old"), { key, tenant });
    assertEquals((await store.findCredential("hash-gone"))?.key.revokedAt?.getTime(), 1.7e12 + 1);
    assertEquals(await store.updateApiKey("key_old", { budgetMicros: 8 }), {
      ...key,
      budgetMicros: 8,
    });
    assertEquals(await store.updateTenant("tnt_old", { rpmLimit: 4 }), { ...tenant, rpmLimit: 4 });
    await store.migrate();
    // The schema holds the rules even for writes that do not come through a store.
    const refused: RawSql[] = [
      {
        sqlite: "UPDATE api_keys SET require_signature = 1",
        postgres: "UPDATE api_keys SET require_signature = true",
      },
      { sqlite: "UPDATE tenants SET rpm_limit = 0", postgres: "UPDATE tenants SET rpm_limit = 0" },
      {
        sqlite: "UPDATE api_keys SET tpm_limit = -1",
        postgres: "UPDATE api_keys SET tpm_limit = -1",
      },
      {
        sqlite: "UPDATE api_keys SET budget_micros = -1",
        postgres: "UPDATE api_keys SET budget_micros = -1",
      },
      {
        sqlite: "UPDATE api_keys SET budget_micros = 9007199254740992",
        postgres: "UPDATE api_keys SET budget_micros = 9007199254740992",
      },
      {
        sqlite: "UPDATE api_keys SET require_signature = 2, signing_secret_sealed = 'x'",
        postgres: "UPDATE api_keys SET require_signature = NULL, signing_secret_sealed = 'x'",
      },
    ];
    for (const sql of refused) await assertRejects(() => exec(sql), sql.sqlite);
    await exec({
      sqlite: "UPDATE api_keys SET require_signature = 1, signing_secret_sealed = 's'",
      postgres: "UPDATE api_keys SET require_signature = true, signing_secret_sealed = 's'",
    });
    const signed = await store.findCredential("hash-old");
    assertEquals([signed?.key.requireSignature, signed?.key.signingSecretSealed], [true, "s"]);
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

contractSuite(cases);
