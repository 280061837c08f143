import { assertEquals } from "../../tests/assert.ts";
import { openStore } from "./mod.ts";

Deno.test("without a database URL the state lives in dataDir/gateway.db and survives reopening", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway_open_" });
  try {
    const first = await openStore({ dataDir: `${dataDir}/nested`, databaseUrl: "" });
    assertEquals(first.kind, "sqlite");
    const tenant = await first.createTenant({ name: "Acme", balanceMicros: 3 });
    await first.close();
    assertEquals((await Deno.stat(`${dataDir}/nested/gateway.db`)).isFile, true);
    const second = await openStore({ dataDir: `${dataDir}/nested` });
    assertEquals(await second.getTenant(tenant.id), tenant);
    await second.close();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
