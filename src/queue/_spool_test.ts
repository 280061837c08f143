import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { Spool } from "./_spool.ts";
import { tempDir } from "./_test_utils.ts";

type Record = { id: string; n: number };

const key = (record: Record) => record.id;

Deno.test("spool: records are replayed, replaced and forgotten as written", async () => {
  await using dir = await tempDir();
  const spool = new Spool<Record>(dir.path, "s.jsonl", { key });
  await Promise.all([spool.put({ id: "a", n: 1 }), spool.put({ id: "b", n: 1 })]);
  await spool.put({ id: "a", n: 2 });
  await spool.ack("b");
  await spool.close();
  const again = new Spool<Record>(dir.path, "s.jsonl", { key });
  assertEquals(again.values(), [{ id: "a", n: 2 }]);
  await again.close();
});

Deno.test("spool: a line torn by a crash is skipped", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/s.jsonl`, '{"put":{"id":"a","n":1}}\n{"put":{"id":"b"');
  const spool = new Spool<Record>(dir.path, "s.jsonl", { key });
  assertEquals(spool.values(), [{ id: "a", n: 1 }]);
  await spool.close();
});

Deno.test("spool: the file is compacted once most of its lines are superseded", async () => {
  await using dir = await tempDir();
  const spool = new Spool<Record>(dir.path, "s.jsonl", { key });
  await spool.put({ id: "kept", n: 0 });
  for (let n = 0; n < 600; n++) {
    await Promise.all([spool.put({ id: `r${n}`, n }), spool.ack(`r${n}`)]);
  }
  await spool.close();
  const lines = (await Deno.readTextFile(`${dir.path}/s.jsonl`)).trim().split("\n");
  assertEquals(lines.length < 1000, true);
  const again = new Spool<Record>(dir.path, "s.jsonl", { key });
  assertEquals(again.values(), [{ id: "kept", n: 0 }]);
  await again.close();
});

for (const sync of ["write", "fsync"] as const) {
  Deno.test(`spool (${sync}): a write has reached the file when it resolves`, async () => {
    await using dir = await tempDir();
    const spool = new Spool<Record>(dir.path, "s.jsonl", { key, sync });
    await Promise.all([spool.put({ id: "a", n: 1 }), spool.put({ id: "b", n: 2 })]);
    await spool.ack("a");
    // Read by another handle while the spool is still open, as a new process would after a crash.
    const lines = (await Deno.readTextFile(`${dir.path}/s.jsonl`)).trim().split("\n");
    assertEquals(lines.map((line) => JSON.parse(line)), [
      { put: { id: "a", n: 1 } },
      { put: { id: "b", n: 2 } },
      { ack: "a" },
    ]);
    const replayed = new Spool<Record>(dir.path, "s.jsonl", { key });
    assertEquals(replayed.values(), [{ id: "b", n: 2 }]);
    await Promise.all([spool.close(), replayed.close()]);
  });

  Deno.test(`spool (${sync}): writes made while the file is compacted are kept`, async () => {
    await using dir = await tempDir();
    const spool = new Spool<Record>(dir.path, "s.jsonl", { key, sync });
    const writes: Promise<void>[] = [];
    for (let n = 0; n < 1200; n++) {
      writes.push(spool.put({ id: `r${n}`, n }));
      if (n % 3 !== 0) writes.push(spool.ack(`r${n}`));
      // Some turns end here, so that compactions start while later writes keep coming.
      if (n % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(writes);
    await spool.close();
    const lines = (await Deno.readTextFile(`${dir.path}/s.jsonl`)).trim().split("\n");
    assertEquals(lines.length < 1200 + 800, true, "the file was compacted");
    const again = new Spool<Record>(dir.path, "s.jsonl", { key });
    const expected = Array.from(
      { length: 400 },
      (_, index) => ({ id: `r${index * 3}`, n: index * 3 }),
    );
    assertEquals(again.values(), expected);
    await again.close();
  });
}

Deno.test("spool: a write after close is refused", async () => {
  await using dir = await tempDir();
  const spool = new Spool<Record>(dir.path, "s.jsonl", { key, sync: "write" });
  await spool.close();
  const error = await assertRejects(() => spool.put({ id: "a", n: 1 }));
  assertEquals(error.message.includes("is closed"), true);
});
