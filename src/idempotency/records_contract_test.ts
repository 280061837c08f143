// One suite, run against the Redis and the store records (on SQLite and on PostgreSQL): each pair
// of records shares its storage, as two gateway instances would. Redis and PostgreSQL are
// required: when either is unreachable these tests fail.
import { assert, assertEquals } from "../../tests/assert.ts";
import { openTestRedis } from "../../tests/redis_testing.ts";
import { migrated, type Open, pg, sqlite, withDatabase } from "../store/_contract.ts";
import type { IdempotencyHold } from "../store/mod.ts";
import { RedisIdempotencyRecords } from "./redis_records.ts";
import { StoreIdempotencyRecords } from "./store_records.ts";
import type { IdempotencyRecords } from "./types.ts";

type Pair = [IdempotencyRecords, IdempotencyRecords];

interface Kind {
  name: string;
  run(test: (records: Pair) => Promise<void>): Promise<void>;
}

function storeRecords(backend: typeof sqlite): Kind {
  return {
    name: `store (${backend.name})`,
    run: (test) =>
      withDatabase(backend, async (open: Open) => {
        const [a, b] = [await migrated(open), await migrated(open)];
        await test([new StoreIdempotencyRecords(a), new StoreIdempotencyRecords(b)]);
      }),
  };
}

const redisRecords: Kind = {
  name: "redis",
  async run(test) {
    await using redis = await openTestRedis();
    const other = await redis.connect();
    const make = (client = redis.client) =>
      new RedisIdempotencyRecords({ redis: client, prefix: redis.prefix, timeoutMs: 2000 });
    await test([make(), make(other)]);
  },
};

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bytes = (text: string) => new TextEncoder().encode(text);

let keys = 0;
function newHold(overrides: Partial<IdempotencyHold> = {}): IdempotencyHold {
  return {
    tenantId: "tnt_a",
    apiKeyId: "key_a",
    key: `key-${++keys}-${crypto.randomUUID()}`,
    token: crypto.randomUUID(),
    ...overrides,
  };
}

/** The same key claimed again by another request (a retry), with a token of its own. */
function retry(hold: IdempotencyHold): IdempotencyHold {
  return { ...hold, token: crypto.randomUUID() };
}

const claim = (records: IdempotencyRecords, hold: IdempotencyHold, fingerprint = "fp-1") =>
  records.claim({ ...hold, fingerprint, leaseMs: HOUR });

const cases: Record<string, (records: Pair) => Promise<void>> = {
  async "the first request holds the key; a retry on another instance sees it running"([a, b]) {
    const hold = newHold();
    assertEquals(await claim(a, hold), { outcome: "claimed" });
    assertEquals(await claim(b, retry(hold)), { outcome: "running" });
    assertEquals(await claim(a, retry(hold)), { outcome: "running" });
  },

  async "a finished request's answer is replayed to a retry byte for byte"([a, b]) {
    const hold = newHold();
    await claim(a, hold);
    const answer = Uint8Array.from({ length: 256 }, (_, i) => i);
    assertEquals(await a.complete(hold, { answer, retentionMs: HOUR }), true);
    const replay = await claim(b, retry(hold));
    assertEquals(replay.outcome, "done");
    assert(replay.outcome === "done" && replay.answer !== null);
    assertEquals([...replay.answer], [...answer]);
  },

  async "the same key with another request is a mismatch, running or finished"([a, b]) {
    const hold = newHold();
    await claim(a, hold, "fp-1");
    assertEquals(await claim(b, retry(hold), "fp-2"), { outcome: "mismatch" });
    await a.complete(hold, { answer: bytes("ok"), retentionMs: HOUR });
    assertEquals(await claim(b, retry(hold), "fp-2"), { outcome: "mismatch" });
  },

  async "a released key is free: the retry runs afresh, with any request"([a, b]) {
    const hold = newHold();
    await claim(a, hold, "fp-1");
    await a.release(hold);
    const again = retry(hold);
    assertEquals(await claim(b, again, "fp-2"), { outcome: "claimed" });
    assertEquals(await claim(a, retry(hold), "fp-2"), { outcome: "running" });
  },

  async "the same key string of another tenant or API key is another request"([a, b]) {
    const hold = newHold();
    await claim(a, hold, "fp-1");
    await a.complete(hold, { answer: bytes("tenant a"), retentionMs: HOUR });
    const otherTenant = { ...retry(hold), tenantId: "tnt_b", apiKeyId: "key_b" };
    assertEquals(await claim(b, otherTenant, "fp-2"), { outcome: "claimed" });
    const otherKey = { ...retry(hold), apiKeyId: "key_a2" };
    assertEquals(await claim(b, otherKey, "fp-3"), { outcome: "claimed" });
    await b.complete(otherTenant, { answer: bytes("tenant b"), retentionMs: HOUR });
    const first = await claim(a, retry(hold), "fp-1");
    assert(first.outcome === "done" && first.answer !== null);
    assertEquals(new TextDecoder().decode(first.answer), "tenant a");
  },

  async "only the holder can renew, complete or release its hold"([a, b]) {
    const hold = newHold();
    await claim(a, hold);
    const stranger = retry(hold);
    assertEquals(await b.renew(stranger, HOUR), false);
    assertEquals(await b.complete(stranger, { answer: bytes("x"), retentionMs: HOUR }), false);
    await b.release(stranger);
    assertEquals(await claim(b, retry(hold)), { outcome: "running" });
    assertEquals(await a.renew(hold, HOUR), true);
    assertEquals(await a.complete(hold, { answer: bytes("mine"), retentionMs: HOUR }), true);
    assertEquals(await a.complete(hold, { answer: bytes("again"), retentionMs: HOUR }), false);
    await a.release(hold);
    const replay = await claim(b, retry(hold));
    assert(replay.outcome === "done" && replay.answer !== null, "a record is never released");
    assertEquals(new TextDecoder().decode(replay.answer), "mine");
  },

  async "the hold of a request whose process died lapses, and its key is free again"([a, b]) {
    const hold = newHold();
    await a.claim({ ...hold, fingerprint: "fp-1", leaseMs: 150 });
    await sleep(400);
    const takeover = retry(hold);
    assertEquals(await claim(b, takeover, "fp-1"), { outcome: "claimed" });
    assertEquals(await a.renew(hold, HOUR), false, "the dead holder's token no longer counts");
    assertEquals(await a.complete(hold, { answer: bytes("late"), retentionMs: HOUR }), false);
    assertEquals(await b.complete(takeover, { answer: bytes("new"), retentionMs: HOUR }), true);
  },

  async "a renewed hold outlasts its first lease"([a, b]) {
    const hold = newHold();
    await a.claim({ ...hold, fingerprint: "fp-1", leaseMs: 300 });
    assertEquals(await a.renew(hold, HOUR), true);
    await sleep(600);
    assertEquals(await claim(b, retry(hold)), { outcome: "running" });
  },

  async "a record is forgotten after its retention"([a, b]) {
    const hold = newHold();
    await claim(a, hold, "fp-1");
    await a.complete(hold, { answer: bytes("old"), retentionMs: 150 });
    await sleep(400);
    assertEquals(await claim(b, retry(hold), "fp-2"), { outcome: "claimed" });
  },

  async "a success whose answer was not kept is told as such"([a, b]) {
    const hold = newHold();
    await claim(a, hold);
    assertEquals(await a.complete(hold, { answer: null, retentionMs: HOUR }), true);
    assertEquals(await claim(b, retry(hold)), { outcome: "done", answer: null });
  },

  async "of many concurrent claims of one key on two instances, exactly one holds it"([a, b]) {
    const hold = newHold();
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => claim(i % 2 ? a : b, retry(hold))),
    );
    assertEquals(outcomes.filter((o) => o.outcome === "claimed").length, 1);
    assertEquals(outcomes.filter((o) => o.outcome === "running").length, 29);
  },
};

for (const kind of [redisRecords, storeRecords(sqlite), storeRecords(pg)]) {
  for (const [name, fn] of Object.entries(cases)) {
    Deno.test(`${kind.name}: ${name}`, () => kind.run(fn));
  }
}
