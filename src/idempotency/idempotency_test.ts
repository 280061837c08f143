import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { HttpError } from "../core/mod.ts";
import { encodeAnswer, type RecordedAnswer } from "./answer.ts";
import { Idempotency, type IdempotentStart, type KeyHold } from "./idempotency.ts";
import type { IdempotencyRecords } from "./types.ts";
import { recordingLogger, sqliteIdempotency } from "./_test_utils.ts";

const ref = { tenantId: "tnt_1", apiKeyId: "key_1", key: "retry-1" };
const live = () => new AbortController().signal;

function answer(text: string): RecordedAnswer {
  return {
    status: 200,
    headers: [["content-type", "application/json"]],
    body: new TextEncoder().encode(text),
    model: "mock-gpt",
    provider: "mock",
  };
}

function holdOf(start: IdempotentStart): KeyHold {
  assert("hold" in start, "the first request runs");
  return start.hold;
}

async function httpError(promise: Promise<unknown>): Promise<HttpError> {
  const error = await assertRejects(() => promise);
  assert(error instanceof HttpError, `expected an HttpError, got ${error}`);
  return error;
}

Deno.test("a retry of a finished request replays its answer instead of running again", async () => {
  await using t = await sqliteIdempotency();
  const hold = holdOf(await t.idempotency.begin(ref, "fp", live()));
  await hold.complete(answer('{"id":"chatcmpl-1"}'));
  const again = await t.idempotency.begin(ref, "fp", live());
  assert("replay" in again);
  assertEquals(new TextDecoder().decode(again.replay.body), '{"id":"chatcmpl-1"}');
  assertEquals(again.replay.model, "mock-gpt");
});

Deno.test("retries while the first request runs wait for it and all get its answer", async () => {
  await using t = await sqliteIdempotency();
  const hold = holdOf(await t.idempotency.begin(ref, "fp", live()));
  const waiting = Array.from({ length: 10 }, () => t.idempotency.begin(ref, "fp", live()));
  await hold.complete(answer("first"));
  for (const start of await Promise.all(waiting)) {
    assert("replay" in start, "every waiting retry replays");
    assertEquals(new TextDecoder().decode(start.replay.body), "first");
  }
});

Deno.test("a retry waiting on another instance's request sees it finish by polling", async () => {
  await using t = await sqliteIdempotency();
  // The first request's hold taken through the records directly: as another process would.
  const other = { ...ref, token: crypto.randomUUID() };
  assertEquals(await t.records.claim({ ...other, fingerprint: "fp", leaseMs: 30_000 }), {
    outcome: "claimed",
  });
  const waiting = t.idempotency.begin(ref, "fp", live());
  await t.records.complete(other, { answer: encodeAnswer(answer("remote")), retentionMs: 60_000 });
  const start = await waiting;
  assert("replay" in start);
  assertEquals(new TextDecoder().decode(start.replay.body), "remote");
});

Deno.test("a failed first request frees the key and the waiting retry runs afresh", async () => {
  await using t = await sqliteIdempotency();
  const first = holdOf(await t.idempotency.begin(ref, "fp", live()));
  const waiting = t.idempotency.begin(ref, "fp", live());
  await first.release();
  const retry = holdOf(await waiting);
  await retry.complete(answer("second"));
  const replay = await t.idempotency.begin(ref, "fp", live());
  assert("replay" in replay);
  assertEquals(new TextDecoder().decode(replay.replay.body), "second");
});

Deno.test("the same key with another request is refused with 422, while running and after", async () => {
  await using t = await sqliteIdempotency();
  const hold = holdOf(await t.idempotency.begin(ref, "fp-1", live()));
  const running = await httpError(t.idempotency.begin(ref, "fp-2", live()));
  assertEquals([running.status, running.code], [422, "idempotency_key_reused"]);
  await hold.complete(answer("x"));
  const done = await httpError(t.idempotency.begin(ref, "fp-2", live()));
  assertEquals([done.status, done.code], [422, "idempotency_key_reused"]);
  assert(done.message.includes("24 hours"), done.message);
});

Deno.test("a retry that waited its whole wait gets 409 with Retry-After", async () => {
  await using t = await sqliteIdempotency({ waitMs: 0 });
  const hold = holdOf(await t.idempotency.begin(ref, "fp", live()));
  const error = await httpError(t.idempotency.begin(ref, "fp", live()));
  assertEquals([error.status, error.code], [409, "idempotency_key_in_use"]);
  assertEquals(error.headers["retry-after"], "1");
  await hold.release();
});

Deno.test("a retry whose client leaves while waiting stops waiting with 499", async () => {
  await using t = await sqliteIdempotency();
  const hold = holdOf(await t.idempotency.begin(ref, "fp", live()));
  const client = new AbortController();
  const waiting = t.idempotency.begin(ref, "fp", client.signal);
  client.abort();
  const error = await httpError(waiting);
  assertEquals([error.status, error.code], [499, "client_closed_request"]);
  await hold.release();
});

Deno.test("an answer over the cap is not kept and its retries are told so with 409", async () => {
  await using t = await sqliteIdempotency({ maxAnswerBytes: 1024 });
  const hold = holdOf(await t.idempotency.begin(ref, "fp", live()));
  await hold.complete(answer("x".repeat(2000)));
  const error = await httpError(t.idempotency.begin(ref, "fp", live()));
  assertEquals([error.status, error.code], [409, "idempotency_answer_not_kept"]);
  assert(error.message.includes("1024 bytes"), error.message);
});

Deno.test("a hold renews its lease while its request runs, past the first lease", async () => {
  await using t = await sqliteIdempotency({ leaseMs: 150 });
  const hold = holdOf(await t.idempotency.begin(ref, "fp", live()));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const error = await httpError(peer(t.records).begin(ref, "fp", live()));
  assertEquals(error.code, "idempotency_key_in_use", "still held after three leases");
  await hold.complete(answer("late"));
});

// Another instance on the same records that answers at once instead of waiting.
function peer(records: IdempotencyRecords): Idempotency {
  return new Idempotency({
    records,
    leaseMs: 150,
    waitMs: 0,
    retentionMs: 60_000,
    maxAnswerBytes: 4096,
    logger: recordingLogger(),
  });
}

Deno.test("records that cannot be reached refuse the request with 503, logged", async () => {
  const broken: IdempotencyRecords = {
    claim: () => Promise.reject(new Error("Redis did not answer a script within 250 ms")),
    renew: () => Promise.resolve(false),
    complete: () => Promise.resolve(false),
    release: () => Promise.resolve(),
  };
  const logger = recordingLogger();
  const outcomes: string[] = [];
  const idempotency = new Idempotency({
    records: broken,
    leaseMs: 1000,
    waitMs: 0,
    retentionMs: 60_000,
    maxAnswerBytes: 4096,
    logger,
    onOutcome: (outcome) => void outcomes.push(outcome),
  });
  const error = await httpError(idempotency.begin(ref, "fp", live()));
  assertEquals(outcomes, ["unavailable"]);
  assertEquals([error.status, error.code], [503, "idempotency_unavailable"]);
  assertEquals(error.headers["retry-after"], "1");
  assertEquals(logger.lines.map((line) => line.event), ["idempotency_unavailable"]);
});

Deno.test("a service with a lease that is not a positive integer is refused", () => {
  const records = {} as IdempotencyRecords;
  const options = { records, waitMs: 0, retentionMs: 1, maxAnswerBytes: 1 };
  const error = assertThrows(() =>
    new Idempotency({ ...options, leaseMs: 0, logger: recordingLogger() })
  );
  assert(error.message.includes("'leaseMs' must be a positive integer"), error.message);
});

Deno.test("each check's outcome is told, for the idempotency metric", async () => {
  const outcomes: string[] = [];
  await using t = await sqliteIdempotency({ waitMs: 0, onOutcome: (o) => void outcomes.push(o) });
  const hold = holdOf(await t.idempotency.begin(ref, "fp", live()));
  await httpError(t.idempotency.begin(ref, "fp", live()));
  await httpError(t.idempotency.begin(ref, "fp-2", live()));
  await hold.complete(answer("x"));
  await t.idempotency.begin(ref, "fp", live());
  assertEquals(outcomes, ["claimed", "in_use", "reused", "replayed"]);
});
