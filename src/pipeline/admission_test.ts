import { assert, assertEquals } from "../../tests/assert.ts";
import type { Principal } from "../auth/mod.ts";
import { MAX_LIMIT_PER_MINUTE } from "../core/mod.ts";
import { type LimitSubject, MemoryRateLimiter } from "../limits/mod.ts";
import { getLogger } from "../observability/logging.ts";
import { GatewayMetrics } from "../observability/metrics.ts";
import { Admission } from "./admission.ts";

const principal = {
  tenantId: "tnt_1",
  apiKeyId: "key_1",
  tenant: { rpmLimit: null, tpmLimit: null },
  key: { rpmLimit: null, tpmLimit: 1000 },
} as unknown as Principal;

/** A memory limiter that also records the token counts it was given. */
function recordingLimiter() {
  const limiter = new MemoryRateLimiter();
  const seen: number[] = [];
  return {
    seen,
    limiter: {
      check: (
        subject: LimitSubject,
        tokens: number,
      ) => (seen.push(tokens), limiter.check(subject, tokens)),
      settleTokens: (
        subject: LimitSubject,
        delta: number,
      ) => (seen.push(delta), limiter.settleTokens(subject, delta)),
    },
  };
}

Deno.test("a request heavier than any limit is counted as the largest one, and settled to its real usage", async () => {
  const { limiter, seen } = recordingLimiter();
  const admission = new Admission({
    limiter,
    defaults: {},
    metrics: new GatewayMetrics(),
    logger: getLogger("test"),
  });
  const huge = {
    model: "m",
    inputTokens: 10,
    outputTokens: 2048 * 128 * 2_147_483_647,
    param: "max_tokens",
  };
  const admitted = await admission.admit(principal, huge);
  assertEquals(
    seen,
    [MAX_LIMIT_PER_MINUTE],
    "the limiter never sees a count past the largest limit",
  );
  assertEquals(admitted.headers["x-ratelimit-remaining-tokens"], "0");
  admitted.settle({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
  assertEquals(seen[1], 15 - MAX_LIMIT_PER_MINUTE);
  // Settled to its 15 tokens, the key has room again for a small request.
  const next = await admission.admit(principal, { ...huge, outputTokens: 100 });
  assert(Number(next.headers["x-ratelimit-remaining-tokens"]) > 0);
});

Deno.test("an upstream's usage past any limit settles as the largest limit, never past it", async () => {
  const { limiter, seen } = recordingLimiter();
  const admission = new Admission({
    limiter,
    defaults: {},
    metrics: new GatewayMetrics(),
    logger: getLogger("test"),
  });
  const small = { model: "m", inputTokens: 10, outputTokens: 90, param: "max_tokens" };
  const admitted = await admission.admit(principal, small);
  admitted.settle({ prompt_tokens: 10, completion_tokens: 1e20, total_tokens: 1e20 + 10 });
  assertEquals(seen, [100, MAX_LIMIT_PER_MINUTE - 100]);
});
