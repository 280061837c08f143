import { assertEquals } from "./assert.ts";
import { ENVIRONMENT } from "../src/config/mod.ts";

const README = new URL("../README.md", import.meta.url);

Deno.test("the README's variable table lists every variable with its real default", async () => {
  const text = await Deno.readTextFile(README);
  const rows = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\|\s*`([A-Z_]+)`\s*\|\s*([^|]+?)\s*\|/.exec(line);
    if (match) rows.set(match[1], match[2].trim());
  }
  assertEquals([...rows.keys()].sort(), Object.keys(ENVIRONMENT).sort());
  for (const [name, spec] of Object.entries(ENVIRONMENT)) {
    const shown = spec.default === undefined ? "unset" : `\`${spec.default}\``;
    assertEquals(rows.get(name), shown, `default of ${name}`);
  }
});

Deno.test("the README shows the two set-up commands", async () => {
  const text = await Deno.readTextFile(README);
  for (const command of ["npx -y deno@2.9.6 task start", "npx -y deno@2.9.6 task test"]) {
    assertEquals(text.includes(command), true, command);
  }
});
