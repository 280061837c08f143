// Model allowlists in the store, run against SQLite and PostgreSQL: a tenant's and a key's
// `models` are saved, read back the same way by every read, changed, cleared and validated alike.
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { MAX_ALLOWLIST_ENTRIES } from "../core/mod.ts";
import type { RawSql } from "./_contract.ts";
import { type Case, contractSuite, migrated, rejectsWith } from "./_contract.ts";
import type { Store } from "./types.ts";

const LIST = ["gpt-4o-mini", "gpt-4o*", "ft:gpt-4o-mini:acme::abc", "ü-model"];

function newKey(store: Store, tenantId: string, models?: readonly string[] | null) {
  const name = crypto.randomUUID();
  return store.createApiKey({ tenantId, name, keyHash: `hash-${name}`, prefix: "sk-x", models });
}

const cases: Record<string, Case> = {
  async "a tenant's models are kept as created, in order, and null or absent means every model"(
    open,
  ) {
    const store = await migrated(open);
    const listed = await store.createTenant({ name: "Listed", balanceMicros: 0, models: LIST });
    assertEquals(listed.models, LIST);
    assertEquals(await store.getTenant(listed.id), listed);
    const none = await store.createTenant({ name: "None", balanceMicros: 0, models: [] });
    assertEquals((await store.getTenant(none.id))?.models, []);
    const any = await store.createTenant({ name: "Any", balanceMicros: 0, models: null });
    const absent = await store.createTenant({ name: "Absent", balanceMicros: 0 });
    assertEquals([any.models, absent.models], [null, null]);
    assertEquals((await store.listTenants({ offset: 0, limit: 10 })).map((t) => t.models), [
      LIST,
      [],
      null,
      null,
    ]);
  },

  async "a key's models are kept as created and come with its credential and listing"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0, models: ["o3*"] });
    const listed = await store.createApiKey({
      tenantId: tenant.id,
      name: "listed",
      keyHash: "hash-listed",
      prefix: "sk-listed",
      models: LIST,
    });
    assertEquals(listed.models, LIST);
    const none = await newKey(store, tenant.id, []);
    const any = await newKey(store, tenant.id);
    assertEquals([none.models, any.models], [[], null]);
    assertEquals(await store.findCredential("hash-listed"), { key: listed, tenant });
    assertEquals((await store.listApiKeys(tenant.id)).map((key) => key.models), [LIST, [], null]);
  },

  async "updating models replaces the list, an empty list is kept, null clears it"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 3, rpmLimit: 5 });
    const key = await newKey(store, tenant.id, ["gpt-4o"]);
    const other = await newKey(store, tenant.id, ["o3-mini"]);

    const tenantListed = await store.updateTenant(tenant.id, { models: ["gpt-4o*"] });
    assertEquals(tenantListed, { ...tenant, models: ["gpt-4o*"] });
    assertEquals(await store.updateTenant(tenant.id, { rpmLimit: 6 }), {
      ...tenantListed,
      rpmLimit: 6,
    }, "a patch without models keeps them");
    assertEquals((await store.updateTenant(tenant.id, { models: [] }))?.models, []);
    assertEquals((await store.updateTenant(tenant.id, { models: null }))?.models, null);
    assertEquals((await store.getTenant(tenant.id))?.models, null);

    const keyListed = await store.updateApiKey(key.id, { models: ["gpt-4o-mini", "o1*"] });
    assertEquals(keyListed, { ...key, models: ["gpt-4o-mini", "o1*"] });
    assertEquals((await store.updateApiKey(key.id, { name: "renamed" }))?.models, [
      "gpt-4o-mini",
      "o1*",
    ]);
    assertEquals((await store.updateApiKey(key.id, { models: [] }))?.models, []);
    assertEquals((await store.findCredential(`hash-${key.name}`))?.key.models, []);
    const cleared = await store.updateApiKey(key.id, { models: null });
    assertEquals(cleared?.models, null);
    assertEquals((await store.findCredential(`hash-${key.name}`))?.key.models, null);
    assertEquals(
      (await store.listApiKeys(tenant.id)).find((each) => each.id === other.id),
      other,
      "another key's list is untouched",
    );
  },

  async "invalid models are refused on create and update and store nothing"(open) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0, models: ["a"] });
    const key = await newKey(store, tenant.id, ["b"]);
    const invalid = [
      [""],
      ["gpt-*-mini"],
      ["ok", " spaced"],
      ["x".repeat(257)],
      Array(MAX_ALLOWLIST_ENTRIES + 1).fill("m"),
      [7] as unknown as string[],
      "gpt-4o" as unknown as string[],
    ];
    for (const models of invalid) {
      await rejectsWith(
        TypeError,
        () => store.createTenant({ name: "X", balanceMicros: 0, models }),
      );
      await rejectsWith(TypeError, () => newKey(store, tenant.id, models));
      await rejectsWith(TypeError, () => store.updateTenant(tenant.id, { name: "X", models }));
      await rejectsWith(TypeError, () => store.updateApiKey(key.id, { name: "X", models }));
    }
    assertEquals(await store.countTenants(), 1);
    assertEquals(await store.getTenant(tenant.id), tenant);
    assertEquals(await store.listApiKeys(tenant.id), [key]);
  },

  async "the schema refuses models that are not a JSON list, even written by hand"(open, exec) {
    const store = await migrated(open);
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 0 });
    await newKey(store, tenant.id);
    const refused: RawSql[] = [
      {
        sqlite: "UPDATE tenants SET models = 'nope'",
        postgres: "UPDATE tenants SET models = 'nope'",
      },
      {
        sqlite: `UPDATE api_keys SET models = '{"a":1}'`,
        postgres: `UPDATE api_keys SET models = '{"a":1}'`,
      },
      {
        sqlite: "UPDATE api_keys SET models = '\"gpt-4o\"'",
        postgres: "UPDATE api_keys SET models = '\"gpt-4o\"'",
      },
    ];
    for (const sql of refused) await assertRejects(() => exec(sql), sql.sqlite);
    await exec({
      sqlite: `UPDATE tenants SET models = '["m*"]'`,
      postgres: `UPDATE tenants SET models = '["m*"]'`,
    });
    assertEquals((await store.getTenant(tenant.id))?.models, ["m*"]);
  },
};

contractSuite(cases);
