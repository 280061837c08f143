// What the idempotency tests share: records on a real SQLite store in a folder of their own.
import { SqliteStore } from "../store/mod.ts";
import { recordingLogger } from "../../tests/redis_testing.ts";
import { Idempotency, type IdempotencyOptions } from "./idempotency.ts";
import { StoreIdempotencyRecords } from "./store_records.ts";

export { recordingLogger };

/** A service on a migrated SQLite store, removed on dispose. */
export async function sqliteIdempotency(
  options: Partial<IdempotencyOptions> = {},
): Promise<
  {
    idempotency: Idempotency;
    records: StoreIdempotencyRecords;
    logger: ReturnType<typeof recordingLogger>;
  } & AsyncDisposable
> {
  const dataDir = await Deno.makeTempDir({ prefix: "gateway_idempotency_" });
  const store = new SqliteStore({ dataDir });
  await store.migrate();
  const records = new StoreIdempotencyRecords(store);
  const logger = recordingLogger();
  const idempotency = new Idempotency({
    records,
    leaseMs: 30_000,
    waitMs: 5000,
    retentionMs: 86_400_000,
    maxAnswerBytes: 4096,
    logger,
    ...options,
  });
  return {
    idempotency,
    records,
    logger,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}
