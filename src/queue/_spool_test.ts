import { assertEquals } from "../../tests/assert.ts";
import { Spool } from "./_spool.ts";
import { tempDir } from "./_test_utils.ts";

type Record = { id: string; n: number };

Deno.test("spool: records are replayed, replaced and forgotten as written", async () => {
  await using dir = await tempDir();
  const spool = new Spool<Record>(dir.path, "s.jsonl", (record) => record.id);
  await Promise.all([spool.put({ id: "a", n: 1 }), spool.put({ id: "b", n: 1 })]);
  await spool.put({ id: "a", n: 2 });
  await spool.ack("b");
  await spool.close();
  const again = new Spool<Record>(dir.path, "s.jsonl", (record) => record.id);
  assertEquals(again.values(), [{ id: "a", n: 2 }]);
  await again.close();
});

Deno.test("spool: a line torn by a crash is skipped", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/s.jsonl`, '{"put":{"id":"a","n":1}}\n{"put":{"id":"b"');
  const spool = new Spool<Record>(dir.path, "s.jsonl", (record) => record.id);
  assertEquals(spool.values(), [{ id: "a", n: 1 }]);
  await spool.close();
});

Deno.test("spool: the file is compacted once most of its lines are superseded", async () => {
  await using dir = await tempDir();
  const spool = new Spool<Record>(dir.path, "s.jsonl", (record) => record.id);
  await spool.put({ id: "kept", n: 0 });
  for (let n = 0; n < 600; n++) {
    await Promise.all([spool.put({ id: `r${n}`, n }), spool.ack(`r${n}`)]);
  }
  await spool.close();
  const lines = (await Deno.readTextFile(`${dir.path}/s.jsonl`)).trim().split("\n");
  assertEquals(lines.length < 1000, true);
  const again = new Spool<Record>(dir.path, "s.jsonl", (record) => record.id);
  assertEquals(again.values(), [{ id: "kept", n: 0 }]);
  await again.close();
});
