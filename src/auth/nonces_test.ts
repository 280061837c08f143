// One contract suite, run against the in-memory and the Redis nonce store: both must refuse a
// replay the same way. Redis is required, not optional: when it is unreachable these tests fail.
import { createClient } from "redis";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/assert.ts";
import { MemoryNonceStore, type NonceStore, RedisNonceStore } from "./nonces.ts";
import { withTestRedis } from "./nonces_test_utils.ts";

const NONCE = "n0nce-abcdefghijklmnop";

/** A store under test, and a way to let `seconds` pass for it. */
interface Subject {
  store: NonceStore;
  elapse(seconds: number): Promise<void>;
}

interface Backend {
  name: string;
  run(fn: (subject: Subject) => Promise<void>): Promise<void>;
}

const memory: Backend = {
  name: "memory",
  async run(fn) {
    let now = 1_000_000;
    const store = new MemoryNonceStore({ now: () => now });
    await fn({
      store,
      elapse(seconds) {
        now += seconds * 1000;
        return Promise.resolve();
      },
    });
  },
};

const redis: Backend = {
  name: "redis",
  run(fn) {
    return withTestRedis(async (redis) => {
      const store = new RedisNonceStore({ redis: await redis.connect(), prefix: redis.prefix });
      // Redis keeps real time: wait it out.
      await fn({ store, elapse: (seconds) => delay(seconds * 1000) });
    });
  },
};

for (const backend of [memory, redis]) {
  Deno.test(`${backend.name}: a nonce is accepted once, then refused as a replay`, () =>
    backend.run(async ({ store }) => {
      assertEquals(await store.claim("key_1", NONCE, 60), true);
      assertEquals(await store.claim("key_1", NONCE, 60), false);
      assertEquals(await store.claim("key_1", NONCE, 60), false);
    }));

  Deno.test(`${backend.name}: the same nonce from another key is not a replay`, () =>
    backend.run(async ({ store }) => {
      assertEquals(await store.claim("key_1", NONCE, 60), true);
      assertEquals(await store.claim("key_2", NONCE, 60), true);
      assertEquals(await store.claim("key_2", NONCE, 60), false);
    }));

  Deno.test(`${backend.name}: a nonce can be claimed again once its ttl has passed`, () =>
    backend.run(async ({ store, elapse }) => {
      assertEquals(await store.claim("key_1", NONCE, 1), true);
      assertEquals(await store.claim("key_1", NONCE, 1), false);
      await elapse(1.1);
      assertEquals(await store.claim("key_1", NONCE, 1), true);
    }));

  Deno.test(`${backend.name}: of concurrent claims of one nonce exactly one wins`, () =>
    backend.run(async ({ store }) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.claim("key_1", NONCE, 60)),
      );
      assertEquals(results.filter((won) => won).length, 1);
    }));

  Deno.test(`${backend.name}: a ttl that is not positive is refused`, () =>
    backend.run(async ({ store }) => {
      for (const ttl of [0, -1, Number.NaN, Infinity]) {
        const error = await assertRejects(() => store.claim("key_1", NONCE, ttl), String(ttl));
        assert(error instanceof RangeError, String(ttl));
      }
    }));
}

Deno.test("memory: expired nonces are swept as new ones arrive", async () => {
  let now = 0;
  const store = new MemoryNonceStore({ now: () => now });
  for (let i = 0; i < 100; i++) await store.claim("key_1", `${NONCE}-${i}`, 10);
  assertEquals(store.size, 100);
  now = 10_000;
  await store.claim("key_1", `${NONCE}-new`, 10);
  assertEquals(store.size, 1);
});

Deno.test("memory: a full store refuses new nonces instead of forgetting live ones", async () => {
  let now = 0;
  const store = new MemoryNonceStore({ now: () => now, maxEntries: 3 });
  for (const i of [1, 2, 3]) assertEquals(await store.claim("key_1", `${NONCE}-${i}`, 10), true);
  now = 9_999;
  const error = await assertRejects(() => store.claim("key_1", `${NONCE}-4`, 10));
  assertEquals(error.message, "nonce store full");
  // A replay is still recognised while full.
  assertEquals(await store.claim("key_1", `${NONCE}-1`, 10), false);
  assertEquals(store.size, 3);
});

Deno.test("memory: a full store takes new nonces again once old ones expire", async () => {
  let now = 0;
  const store = new MemoryNonceStore({ now: () => now, maxEntries: 3 });
  await store.claim("key_1", `${NONCE}-long`, 100);
  await store.claim("key_1", `${NONCE}-short-1`, 5);
  await store.claim("key_1", `${NONCE}-short-2`, 5);
  now = 5_000;
  // The oldest nonce is still live, so only a full sweep finds the expired ones behind it.
  assertEquals(await store.claim("key_1", `${NONCE}-4`, 10), true);
  assertEquals(await store.claim("key_1", `${NONCE}-long`, 100), false);
  assertEquals(store.size, 2);
});

Deno.test("memory: a bound that is not a positive integer is refused", () => {
  for (const maxEntries of [0, -1, 1.5]) {
    const error = assertThrows(() => new MemoryNonceStore({ maxEntries }));
    assert(error instanceof RangeError, String(maxEntries));
  }
});

Deno.test("redis: a nonce is one key under the prefix that expires with the ttl", async () => {
  await withTestRedis(async (redis) => {
    const client = await redis.connect();
    const store = new RedisNonceStore({ redis: client, prefix: redis.prefix });
    await store.claim("key_1", NONCE, 42);
    const key = `${redis.prefix}nonce:key_1:${NONCE}`;
    assertEquals(await client.get(key), "1");
    const ttl = await client.ttl(key);
    assert(ttl > 40 && ttl <= 42, `ttl ${ttl}`);
  });
});

Deno.test("redis: the default prefix is gw:", async () => {
  await withTestRedis(async (redis) => {
    const client = await redis.connect();
    const keyId = `test-${crypto.randomUUID()}`;
    const key = `gw:nonce:${keyId}:${NONCE}`;
    try {
      await new RedisNonceStore({ redis: client }).claim(keyId, NONCE, 5);
      assertEquals(await client.exists(key), 1);
    } finally {
      await client.del(key);
    }
  });
});

Deno.test("redis: a claim fails within its timeout when Redis accepts but never answers", async () => {
  // A listener that takes connections and says nothing: a hung server, not a refused one.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const connection of listener) connections.push(connection);
  })();
  // No handshake commands, so connecting needs no answer from the silent server.
  const client = createClient({
    url: `redis://127.0.0.1:${listener.addr.port}`,
    socket: { reconnectStrategy: false },
    disableClientInfo: true,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const store = new RedisNonceStore({ redis: client, timeoutMs: 100 });
    const started = performance.now();
    const error = await assertRejects(() => store.claim("key_1", NONCE, 60));
    const elapsed = performance.now() - started;
    assertStringIncludes(error.message, "within 100 ms");
    assert(elapsed >= 90 && elapsed < 1000, `took ${elapsed} ms`);
  } finally {
    client.destroy();
    for (const connection of connections) connection.close();
    listener.close();
    await accepting;
  }
});

Deno.test("redis: a timeout that is not positive is refused", () => {
  const error = assertThrows(() => new RedisNonceStore({ redis: {} as never, timeoutMs: 0 }));
  assert(error instanceof RangeError);
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
