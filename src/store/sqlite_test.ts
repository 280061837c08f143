import { assert, assertEquals } from "../../tests/assert.ts";
import { MIN_FLUSH_INTERVAL_MS, SqliteStore } from "./sqlite.ts";

// Two gateway processes may share one SQLite file: reserve's BEGIN IMMEDIATE and the busy timeout
// must keep them from both taking the last of a balance.
const WORKER = `
  const { SqliteStore } = await import(${JSON.stringify(import.meta.resolve("./sqlite.ts"))});
  const [dataDir, tenantId, apiKeyId, name] = Deno.args;
  const store = new SqliteStore({ dataDir });
  await store.ping();
  console.log("ready");
  // Both start together on the parent's word, once both have opened the file.
  await Deno.stdin.readable.getReader().read();
  let ok = 0;
  for (let i = 0; i < 150; i++) {
    const result = await store.reserve({
      traceId: name + "-" + i, tenantId, apiKeyId, amountMicros: 1_000_000, marginMicros: 0,
      expiresAt: new Date(Date.now() + 60_000),
    });
    if (result.ok) ok++;
    // A pause lets the other process in: SQLite's busy handler is not fair to the waiter.
    await new Promise((resolve) => setTimeout(resolve, i % 3));
  }
  await store.close();
  console.log(ok);
`;

Deno.test("two processes reserving on one SQLite file hold no more than the balance", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway_sqlite_" });
  const store = new SqliteStore({ dataDir });
  try {
    await store.migrate();
    const tenant = await store.createTenant({ name: "Acme", balanceMicros: 100_000_000 });
    const key = await store.createApiKey({
      tenantId: tenant.id,
      name: "k",
      keyHash: "hash-k",
      prefix: "sk-k",
    });
    const workers = ["a", "b"].map((name) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", WORKER, dataDir, tenant.id, key.id, name],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn()
    );
    const lines = workers.map((worker) => lineReader(worker.stdout));
    for (const next of lines) assertEquals(await next(), "ready");
    for (const worker of workers) {
      const writer = worker.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
    }
    const oks = await Promise.all(lines.map(async (next) => Number(await next())));
    for (const next of lines) assertEquals(await next(), undefined);
    for (const worker of workers) assertEquals((await worker.status).code, 0);
    assertEquals(oks[0] + oks[1], 100);
    assert(oks[0] > 0 && oks[1] > 0, `both processes took part: ${oks}`);
    const after = await store.getTenant(tenant.id);
    assertEquals([after?.balanceMicros, after?.reservedMicros], [100_000_000, 100_000_000]);
  } finally {
    await store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** Reads `stream` line by line: each call gives the next line, or undefined at its end. */
function lineReader(stream: ReadableStream<Uint8Array>): () => Promise<string | undefined> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return async () => {
    while (!buffered.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) return buffered === "" ? undefined : buffered;
      buffered += value;
    }
    const end = buffered.indexOf("\n");
    const line = buffered.slice(0, end);
    buffered = buffered.slice(end + 1);
    return line;
  };
}

Deno.test("fsyncs of the write-ahead log start at least the minimum interval apart, and calls made before one starts share it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway_sqlite_flush_" });
  const store = new SqliteStore({ dataDir });
  try {
    await store.migrate();
    await store.createTenant({ name: "Acme", balanceMicros: 1_000_000 });
    await store.flushToDisk();
    const firstEnded = performance.now();
    await store.createTenant({ name: "Globex", balanceMicros: 1_000_000 });
    // Three calls before the next sync starts: one wait, one sync, all three done by it.
    const calls = [store.flushToDisk(), store.flushToDisk(), store.flushToDisk()];
    assert(calls[1] === calls[0] && calls[2] === calls[0], "the calls share one sync");
    await Promise.all(calls);
    const waited = performance.now() - firstEnded;
    assert(
      waited >= MIN_FLUSH_INTERVAL_MS - 1,
      `the next sync ended ${waited.toFixed(1)} ms after the first, sooner than its interval`,
    );
  } finally {
    await store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
