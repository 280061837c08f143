import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { HttpError } from "../core/mod.ts";
import type { ApiKey, Tenant } from "../store/mod.ts";
import { ApiKeyAuthenticator } from "./authenticator.ts";
import { constantTimeEqual, generateApiKey, hashApiKey } from "./keys.ts";

function fakeStore(keys: Map<string, ApiKey>, tenant: Tenant = TENANT) {
  let lookups = 0;
  return {
    get lookups() {
      return lookups;
    },
    findCredential(hash: string) {
      lookups++;
      const key = keys.get(hash);
      return Promise.resolve(key && { key, tenant });
    },
  };
}

const TENANT: Tenant = {
  id: "tnt_1",
  name: "acme",
  balanceMicros: 0,
  reservedMicros: 0,
  rpmLimit: 60,
  tpmLimit: null,
  models: null,
  budgetMicros: null,
  budgetPeriod: null,
  createdAt: new Date(),
};

function keyRecord(id: string): ApiKey {
  return {
    id,
    tenantId: "tnt_1",
    name: "k",
    prefix: "sk-gw-abc",
    rpmLimit: null,
    tpmLimit: 1000,
    models: null,
    budgetMicros: null,
    budgetPeriod: null,
    spentMicros: 0,
    reservedMicros: 0,
    requireSignature: false,
    signingSecretSealed: null,
    createdAt: new Date(),
    revokedAt: null,
  };
}

Deno.test("a valid key authenticates to its tenant and key, with their settings", async () => {
  const generated = generateApiKey();
  const store = fakeStore(new Map([[generated.hash, keyRecord("key_1")]]));
  const auth = new ApiKeyAuthenticator({ store, cacheTtlMs: 1000 });
  const principal = await auth.authenticate(`Bearer ${generated.secret}`);
  assertEquals(principal.apiKeyId, "key_1");
  assertEquals(principal.tenantId, "tnt_1");
  assertEquals(principal.tenant.rpmLimit, 60);
  assertEquals(principal.key.tpmLimit, 1000);
});

Deno.test("a key's and its tenant's model lists both come compiled with the principal", async () => {
  const generated = generateApiKey();
  const key = { ...keyRecord("key_1"), models: ["gpt-4o-mini", "o3*"] };
  const tenant = { ...TENANT, models: ["gpt-4o*", "o3-mini"] };
  const store = fakeStore(new Map([[generated.hash, key]]), tenant);
  const auth = new ApiKeyAuthenticator({ store, cacheTtlMs: 60_000 });
  const principal = await auth.authenticate(`Bearer ${generated.secret}`);
  const allowed = (model: string) => [
    principal.models.tenant.allows(model),
    principal.models.key.allows(model),
  ];
  assertEquals(allowed("gpt-4o-mini"), [true, true]);
  assertEquals(allowed("gpt-4o"), [true, false]);
  assertEquals(allowed("o3-mini"), [true, true]);
  assertEquals(allowed("o3-pro"), [false, true]);
  const again = await auth.authenticate(`Bearer ${generated.secret}`);
  assert(again.models === principal.models, "compiled once per lookup, not per request");

  const open = generateApiKey();
  const unlisted = fakeStore(new Map([[open.hash, keyRecord("key_2")]]));
  const anyModel = await new ApiKeyAuthenticator({ store: unlisted, cacheTtlMs: 1 })
    .authenticate(`Bearer ${open.secret}`);
  assertEquals([anyModel.models.tenant.allows("x"), anyModel.models.key.allows("x")], [
    true,
    true,
  ]);
});

Deno.test("forgetTenant() drops the cached keys of that tenant", async () => {
  const generated = generateApiKey();
  const store = fakeStore(new Map([[generated.hash, keyRecord("key_1")]]));
  const auth = new ApiKeyAuthenticator({ store, cacheTtlMs: 60_000 });
  await auth.authenticate(`Bearer ${generated.secret}`);
  auth.forgetTenant("tnt_other");
  await auth.authenticate(`Bearer ${generated.secret}`);
  assertEquals(store.lookups, 1);
  auth.forgetTenant("tnt_1");
  await auth.authenticate(`Bearer ${generated.secret}`);
  assertEquals(store.lookups, 2);
});

Deno.test("missing, malformed and unknown keys are refused with 401", async () => {
  const auth = new ApiKeyAuthenticator({ store: fakeStore(new Map()), cacheTtlMs: 1000 });
  for (
    const header of [
      undefined,
      "",
      "Basic abc",
      "Bearer",
      "Bearer not-a-key",
      `Bearer ${generateApiKey().secret}`,
    ]
  ) {
    const error = await assertRejects(() => auth.authenticate(header));
    assert(error instanceof HttpError && error.status === 401, String(header));
  }
});

Deno.test("a cached key needs no database lookup until its entry expires", async () => {
  const generated = generateApiKey();
  const store = fakeStore(new Map([[generated.hash, keyRecord("key_1")]]));
  let now = 0;
  const auth = new ApiKeyAuthenticator({ store, cacheTtlMs: 1000, now: () => now });
  await auth.authenticate(`Bearer ${generated.secret}`);
  await auth.authenticate(`Bearer ${generated.secret}`);
  assertEquals(store.lookups, 1);
  now = 1001;
  await auth.authenticate(`Bearer ${generated.secret}`);
  assertEquals(store.lookups, 2);
});

Deno.test("a key revoked elsewhere stops working once the cache entry expires", async () => {
  const generated = generateApiKey();
  const keys = new Map([[generated.hash, keyRecord("key_1")]]);
  let now = 0;
  const auth = new ApiKeyAuthenticator({
    store: fakeStore(keys),
    cacheTtlMs: 1000,
    now: () => now,
  });
  await auth.authenticate(`Bearer ${generated.secret}`);
  keys.set(generated.hash, { ...keyRecord("key_1"), revokedAt: new Date() });
  await auth.authenticate(`Bearer ${generated.secret}`);
  now = 1500;
  const error = await assertRejects(() => auth.authenticate(`Bearer ${generated.secret}`));
  assertEquals((error as HttpError).code, "revoked_api_key");
});

Deno.test("forget() makes a revocation on this instance take effect at once", async () => {
  const generated = generateApiKey();
  const keys = new Map([[generated.hash, keyRecord("key_1")]]);
  const auth = new ApiKeyAuthenticator({ store: fakeStore(keys), cacheTtlMs: 60_000 });
  await auth.authenticate(`Bearer ${generated.secret}`);
  keys.set(generated.hash, { ...keyRecord("key_1"), revokedAt: new Date() });
  auth.forget("key_1");
  await assertRejects(() => auth.authenticate(`Bearer ${generated.secret}`));
});

Deno.test("concurrent requests with one key share a single lookup", async () => {
  const generated = generateApiKey();
  const store = fakeStore(new Map([[generated.hash, keyRecord("key_1")]]));
  const auth = new ApiKeyAuthenticator({ store, cacheTtlMs: 1000 });
  await Promise.all(
    Array.from({ length: 20 }, () => auth.authenticate(`Bearer ${generated.secret}`)),
  );
  assertEquals(store.lookups, 1);
});

Deno.test("a flood of random keys cannot grow the cache past its bound", async () => {
  const store = fakeStore(new Map());
  const auth = new ApiKeyAuthenticator({ store, cacheTtlMs: 60_000, maxEntries: 10 });
  for (let i = 0; i < 50; i++) {
    await assertRejects(() => auth.authenticate(`Bearer ${generateApiKey().secret}`));
  }
  assertEquals(auth.cacheSize, 10);
  assertEquals(store.lookups, 50);
});

Deno.test("keys are random, prefixed, and hashed deterministically", () => {
  const a = generateApiKey();
  const b = generateApiKey();
  assert(a.secret !== b.secret);
  assert(a.secret.startsWith("sk-gw-") && a.secret.length === 49);
  assertEquals(a.hash, hashApiKey(a.secret));
  assertEquals(a.hash.length, 64);
  assert(a.secret.startsWith(a.prefix));
});

Deno.test("constant-time comparison tells equal from different strings", async () => {
  assertEquals(await constantTimeEqual("token-123", "token-123"), true);
  assertEquals(await constantTimeEqual("token-123", "token-124"), false);
  assertEquals(await constantTimeEqual("short", "a-much-longer-token"), false);
});

Deno.test("Anthropic's clients may send the key as x-api-key, or as a bearer token", async () => {
  const generated = generateApiKey();
  const auth = new ApiKeyAuthenticator({
    store: fakeStore(new Map([[generated.hash, keyRecord("key_1")]])),
    cacheTtlMs: 1000,
  });
  const byHeader = await auth.authenticateEither({
    apiKey: generated.secret,
    authorization: undefined,
  });
  const byBearer = await auth.authenticateEither({
    apiKey: undefined,
    authorization: `Bearer ${generated.secret}`,
  });
  assertEquals([byHeader.apiKeyId, byBearer.apiKeyId], ["key_1", "key_1"]);
  const missing = await assertRejects(() =>
    auth.authenticateEither({ apiKey: undefined, authorization: undefined })
  );
  assert(missing instanceof HttpError && missing.status === 401);
  assertStringIncludes(missing.message, "x-api-key");
  assertStringIncludes(missing.message, "Authorization: Bearer");
  const wrong = await assertRejects(() =>
    auth.authenticateEither({ apiKey: generateApiKey().secret, authorization: undefined })
  );
  assert(wrong instanceof HttpError && wrong.status === 401);
});
