import { assertEquals } from "../../tests/assert.ts";
import { ResponsesRetention } from "./retention.ts";

Deno.test("a sweep deletes what was created longer ago than the retention, by the injected clock", async () => {
  const cutoffs: Date[] = [];
  const retention = new ResponsesRetention({
    store: {
      deleteResponsesCreatedBefore: (cutoff) => {
        cutoffs.push(cutoff);
        return Promise.resolve(2);
      },
    },
    retentionMs: 30 * 86_400_000,
    now: () => new Date("2026-03-31T12:00:00Z"),
  });
  assertEquals(await retention.sweep(), 2);
  assertEquals(cutoffs, [new Date("2026-03-01T12:00:00Z")]);
});
