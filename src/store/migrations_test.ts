import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { type Migration, MIGRATIONS, pendingMigrations } from "./migrations.ts";

const migration = (version: number): Migration => ({
  version,
  name: `v${version}`,
  postgres: "",
  sqlite: "",
});

Deno.test("only migrations a database has not applied run, oldest first", () => {
  const list = [migration(1), migration(2), migration(3)];
  assertEquals(pendingMigrations(new Set([1]), list).map((m) => m.version), [2, 3]);
  assertEquals(pendingMigrations(new Set([1, 2, 3]), list), []);
});

Deno.test("a migration list whose versions do not ascend is refused", () => {
  assertThrows(() => pendingMigrations(new Set(), [migration(2), migration(1)]));
  assertThrows(() => pendingMigrations(new Set(), [migration(1), migration(1)]));
});

Deno.test("the shipped migrations are in order", () => {
  assertEquals(pendingMigrations(new Set(), MIGRATIONS).length, MIGRATIONS.length);
});
