import { assertEquals } from "../../tests/assert.ts";
import type { Principal } from "../auth/mod.ts";
import { chatEstimate } from "../core/mod.ts";
import { getLogger } from "../observability/logging.ts";
import type { LedgerEntry } from "../store/mod.ts";
import type { Billing } from "./billing.ts";
import { StoreFunds } from "./funds.ts";
import { Metering } from "./metering.ts";
import { PriceList } from "./pricing.ts";
import { Quota } from "./quota.ts";

const principal = { tenantId: "tnt_1", apiKeyId: "key_1" } as Principal;
const prices = new PriceList({
  prices: {},
  fallback: { input_per_1m_tokens: 1_000_000, output_per_1m_tokens: 1_000_000 },
});

function metering() {
  const charged: LedgerEntry[] = [];
  const store = {
    reserve: () => Promise.resolve({ ok: true as const }),
    reserveMany: (inputs: unknown[]) => Promise.resolve(inputs.map(() => ({ ok: true as const }))),
    release: () => Promise.resolve(),
  };
  const logger = getLogger("test");
  const quota = new Quota({
    funds: new StoreFunds(store),
    prices,
    marginMicros: 0,
    reservationTtlMs: 1000,
    logger,
  });
  const billing = {
    charge: (entry: LedgerEntry) => (charged.push(entry), Promise.resolve()),
  } as unknown as Billing;
  return { charged, metering: new Metering({ quota, billing, prices, logger }) };
}

Deno.test("an upstream usage too large to price is billed by the estimate, not failed", async () => {
  const { charged, metering: m } = metering();
  const request = chatEstimate({ model: "m", messages: [{ role: "user", content: "hi" }] }, 5);
  const meter = await m.open(principal, request, { traceId: "req-1", clientTraceId: false });
  const cost = await meter.finish({
    provider: "openai",
    usage: { prompt_tokens: 1, completion_tokens: 1e20, total_tokens: 1e20 + 1 },
    producedChars: 8,
  });
  assertEquals(charged.length, 1);
  assertEquals(charged[0].estimated, true);
  assertEquals(charged[0].outputTokens, 2, "eight characters produced, estimated at four a token");
  assertEquals(cost, (request.inputTokens + 2) * 1_000_000);
});

Deno.test("a usage that can be priced is billed as the upstream reported it", async () => {
  const { charged, metering: m } = metering();
  const request = chatEstimate({ model: "m", messages: [{ role: "user", content: "hi" }] }, 5);
  const meter = await m.open(principal, request, { traceId: "req-2", clientTraceId: false });
  await meter.finish({
    provider: "openai",
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    producedChars: 8,
  });
  assertEquals([charged[0].inputTokens, charged[0].outputTokens, charged[0].estimated], [
    3,
    4,
    false,
  ]);
  assertEquals(charged[0].costMicros, 7_000_000);
});

Deno.test("OpenAI's cached prompt tokens and Anthropic's cache writes are charged as such", async () => {
  const { charged, metering: m } = metering();
  const request = chatEstimate({ model: "m", messages: [{ role: "user", content: "hi" }] }, 5);
  const meter = await m.open(principal, request, { traceId: "req-3", clientTraceId: false });
  await meter.finish({
    provider: "openai",
    usage: {
      prompt_tokens: 100,
      completion_tokens: 4,
      total_tokens: 104,
      prompt_tokens_details: { cached_tokens: 64 },
      cache_creation_input_tokens: 20,
    },
    producedChars: 8,
  });
  const { inputTokens, cacheReadTokens, cacheWriteTokens } = charged[0];
  assertEquals([inputTokens, cacheReadTokens, cacheWriteTokens], [100, 64, 20]);
});
