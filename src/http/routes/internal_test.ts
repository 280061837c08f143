import { Hono } from "hono";
import { assertEquals, assertMatch } from "../../../tests/assert.ts";
import { AuditWriter } from "../../audit/mod.ts";
import { ApiKeyAuthenticator } from "../../auth/mod.ts";
import { getLogger } from "../../observability/logging.ts";
import { RecentUpstreamFailures } from "../../observability/upstream_failures.ts";
import type { JobQueue } from "../../queue/mod.ts";
import { StatusService } from "../../status/mod.ts";
import { SqliteStore } from "../../store/mod.ts";
import { TenantService } from "../../tenants/mod.ts";
import type { GatewayEnv } from "../context.ts";
import { errorHandler } from "../errors.ts";
import { internalRoutes } from "./internal.ts";

const ADMIN_TOKEN = "admin-token-for-internal-tests";

/** The internal API on a SQLite store of its own, as `createApp` mounts it. */
async function internalApi() {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway_internal_test_" });
  const store = new SqliteStore({ dataDir });
  await store.migrate();
  const logger = getLogger("test");
  const queue: JobQueue = {
    enqueue: () => Promise.resolve("1"),
    register: () => {},
    start: () => {},
    stop: () => Promise.resolve(),
    depths: () => Promise.resolve({}),
    workers: () => Promise.resolve([]),
    stats: () => ({}),
    deadLetters: () => Promise.resolve([]),
    redrive: () => Promise.resolve(false),
  };
  const audit = new AuditWriter({ queue, store, logger, flushMs: 1 });
  const authenticator = new ApiKeyAuthenticator({ store, cacheTtlMs: 1000 });
  const app = new Hono<GatewayEnv>();
  app.use("*", async function record(c, next) {
    c.set("record", { traceId: "req-internal-test", clientTraceId: false });
    await next();
  });
  app.route(
    "/internal",
    internalRoutes({
      adminToken: ADMIN_TOKEN,
      tenants: new TenantService({ store, authenticator, audit }),
      queue,
      status: new StatusService({ queue, store, failures: new RecentUpstreamFailures(), logger }),
      maxBodyBytes: 1_000_000,
    }),
  );
  app.onError(errorHandler(logger));
  const send = async (method: string, path: string, body?: unknown) => {
    const response = await app.request(`/internal${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  return {
    send,
    async [Symbol.asyncDispose]() {
      await audit.flush();
      await store.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

Deno.test("models set on a tenant and a key are shown in every read, changed and cleared", async () => {
  await using api = await internalApi();
  const tenant = await api.send("POST", "/tenants", { name: "acme", models: ["gpt-4o*"] });
  assertEquals([tenant.status, tenant.body.models], [201, ["gpt-4o*"]]);
  assertEquals((await api.send("GET", `/tenants/${tenant.body.id}`)).body.models, ["gpt-4o*"]);
  const listed = await api.send("GET", "/tenants");
  assertEquals(listed.body.data[0].models, ["gpt-4o*"]);
  const plain = await api.send("POST", "/tenants", { name: "plain" });
  assertEquals(plain.body.models, null, "no list: every model");

  const key = await api.send("POST", `/tenants/${tenant.body.id}/keys`, {
    models: ["gpt-4o-mini"],
  });
  assertEquals([key.status, key.body.models], [201, ["gpt-4o-mini"]]);
  const keys = await api.send("GET", `/tenants/${tenant.body.id}/keys`);
  assertEquals(keys.body.data.map((each: { models: unknown }) => each.models), [["gpt-4o-mini"]]);
  const emptied = await api.send("PATCH", `/keys/${key.body.id}`, { models: [] });
  assertEquals([emptied.status, emptied.body.models], [200, []]);
  const renamed = await api.send("PATCH", `/keys/${key.body.id}`, { name: "ci" });
  assertEquals(renamed.body.models, [], "a patch without models keeps them");
  assertEquals(
    (await api.send("PATCH", `/keys/${key.body.id}`, { models: null })).body.models,
    null,
  );

  const changed = await api.send("PATCH", `/tenants/${tenant.body.id}`, { models: ["o3*", "o1"] });
  assertEquals([changed.status, changed.body.models], [200, ["o3*", "o1"]]);
  const cleared = await api.send("PATCH", `/tenants/${tenant.body.id}`, { models: null });
  assertEquals(cleared.body.models, null);
});

Deno.test("invalid models get a 400 naming the entry, on create and update alike", async () => {
  await using api = await internalApi();
  const tenant = await api.send("POST", "/tenants", { name: "acme", models: ["gpt-4o"] });
  const key = await api.send("POST", `/tenants/${tenant.body.id}/keys`, {});
  const cases: Array<[unknown, string, RegExp]> = [
    [[""], "models.0", /must not be empty/],
    [["gpt-4o", "gpt-*-mini"], "models.1", /may have '\*' only as its last character/],
    [["**"], "models.0", /may have '\*' only as its last character/],
    [["gpt-4o "], "models.0", /must not contain whitespace or control characters/],
    [["x".repeat(257)], "models.0", /at most 256 characters/],
    [Array(257).fill("gpt-4o"), "models", /at most 256 entries/],
    [[42], "models.0", /Expected string/],
    ["gpt-4o", "models", /Expected array/],
  ];
  const writes = [
    (models: unknown) => api.send("POST", "/tenants", { name: "bad", models }),
    (models: unknown) => api.send("PATCH", `/tenants/${tenant.body.id}`, { models }),
    (models: unknown) => api.send("POST", `/tenants/${tenant.body.id}/keys`, { models }),
    (models: unknown) => api.send("PATCH", `/keys/${key.body.id}`, { models }),
  ];
  for (const [models, param, message] of cases) {
    for (const write of writes) {
      const { status, body } = await write(models);
      assertEquals([status, body.error.type, body.error.param], [
        400,
        "invalid_request_error",
        param,
      ], JSON.stringify(models).slice(0, 40));
      assertMatch(body.error.message, message);
    }
  }
  assertEquals((await api.send("GET", "/tenants")).body.total, 1, "no tenant was made");
  assertEquals((await api.send("GET", `/tenants/${tenant.body.id}`)).body.models, ["gpt-4o"]);
  const keys = await api.send("GET", `/tenants/${tenant.body.id}/keys`);
  assertEquals(keys.body.data.map((each: { models: unknown }) => each.models), [null]);
});
