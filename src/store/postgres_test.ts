import { assert, assertRejects, assertStringIncludes, assertThrows } from "../../tests/assert.ts";
import { PostgresStore } from "./postgres.ts";

Deno.test("ping fails within its timeout when the server accepts but never answers", async () => {
  // A listener that takes connections and says nothing: a hung server, not a refused one.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const connection of listener) connections.push(connection);
  })();
  const store = new PostgresStore({
    url: `postgres://postgres@127.0.0.1:${listener.addr.port}/test`,
    pingTimeoutMs: 200,
    // The connection never finishes its handshake, so there is nothing to wait for on close.
    closeTimeoutSeconds: 0,
  });
  try {
    const started = Date.now();
    const error = await assertRejects(() => store.ping());
    assertStringIncludes(error.message, "within 200 ms");
    assert(Date.now() - started < 2000, "ping took longer than its timeout");
  } finally {
    for (const connection of connections) connection.close();
    await store.close();
    listener.close();
    await accepting;
  }
});

Deno.test("a schema name that is not a plain identifier is refused", () => {
  const error = assertThrows(() =>
    new PostgresStore({ url: "postgres://postgres@127.0.0.1:5432/test", schema: "x; drop" })
  );
  assert(error instanceof TypeError, "a TypeError");
});
