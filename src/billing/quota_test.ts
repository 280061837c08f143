import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import type { Principal } from "../auth/mod.ts";
import { chatEstimate, HttpError } from "../core/mod.ts";
import { getLogger } from "../observability/logging.ts";
import { PriceList } from "./pricing.ts";
import { StoreFunds } from "./funds.ts";
import { Quota } from "./quota.ts";

const principal = { tenantId: "tnt_1", apiKeyId: "key_1" } as Principal;
const prices = new PriceList({
  prices: { m: { input_per_1m_tokens: 1_000_000, output_per_1m_tokens: 2_000_000 } },
  fallback: { input_per_1m_tokens: 0, output_per_1m_tokens: 0 },
});
const chat = { model: "m", messages: [{ role: "user" as const, content: "12345678" }] };
const request = chatEstimate(chat, 5);

function quota(reserve: () => Promise<{ ok: true } | { ok: false; reason: "tenant_balance" }>) {
  const calls: number[] = [];
  const one = (input: { amountMicros: number }) => (calls.push(input.amountMicros), reserve());
  const store = {
    reserve: one,
    reserveMany: (inputs: Array<{ amountMicros: number }>) => Promise.all(inputs.map(one)),
    release: () => Promise.resolve(),
  };
  return {
    calls,
    quota: new Quota({
      funds: new StoreFunds(store),
      prices,
      marginMicros: 0,
      reservationTtlMs: 1000,
      logger: getLogger("test"),
    }),
  };
}

Deno.test("the worst case is the prompt plus the most the completion may take", () => {
  const { quota: q } = quota(() => Promise.resolve({ ok: true }));
  // Prompt: 3 + 4 + 2 tokens at $1 each; completion: max_tokens 5 at $2 each.
  assertEquals(q.worstCase(request), 9_000_000 + 10_000_000);
  assertEquals(
    q.worstCase(chatEstimate({ ...chat, max_tokens: 1, n: 3 }, 5)),
    9_000_000 + 6_000_000,
  );
});

Deno.test("an uncovered request gets 429 insufficient_quota", async () => {
  const { quota: q } = quota(() => Promise.resolve({ ok: false, reason: "tenant_balance" }));
  const error = await assertRejects(() =>
    q.reserve(principal, request, { traceId: "req-1", clientTraceId: false })
  );
  assert(error instanceof HttpError);
  assertEquals(error.status, 429);
  assertEquals(error.code, "insufficient_quota");
  assertEquals(error.type, "insufficient_quota");
});

Deno.test("a store that cannot answer refuses the request with 503, never lets it through", async () => {
  const { quota: q } = quota(() => Promise.reject(new Error("connection refused")));
  const error = await assertRejects(() =>
    q.reserve(principal, request, { traceId: "req-1", clientTraceId: false })
  );
  assert(error instanceof HttpError);
  assertEquals(error.status, 503);
  assertEquals(error.code, "quota_unavailable");
});

Deno.test("a worst case past a safe integer is the client's 400 naming its parameter, and nothing is reserved", async () => {
  const { quota: q, calls } = quota(() => Promise.resolve({ ok: true }));
  const cases: Array<[Record<string, number>, string]> = [
    [{ max_tokens: 2_000_000_000, n: 128 }, "max_tokens"],
    [{ max_completion_tokens: 2_000_000_000, n: 3 }, "max_completion_tokens"],
  ];
  for (const [fields, param] of cases) {
    const error = await assertRejects(() =>
      q.reserve(principal, chatEstimate({ ...chat, ...fields }, 5), {
        traceId: "req-1",
        clientTraceId: false,
      })
    );
    assert(error instanceof HttpError);
    assertEquals([error.status, error.type, error.code, error.param], [
      400,
      "invalid_request_error",
      "cost_out_of_range",
      param,
    ]);
    assertStringIncludes(error.message, `lower '${param}'`);
  }
  assertEquals(calls, [], "no reservation was attempted");
});
