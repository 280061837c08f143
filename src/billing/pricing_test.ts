import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { PriceList } from "./pricing.ts";

const prices = new PriceList({
  prices: {
    "gpt-4o": { input_per_1m_tokens: 2.5, output_per_1m_tokens: 10 },
    "cheap": { input_per_1m_tokens: 0.15, output_per_1m_tokens: 0.6 },
  },
  fallback: { input_per_1m_tokens: 5, output_per_1m_tokens: 15 },
});

Deno.test("a request costs its tokens at the model's price, in micro-dollars", () => {
  // 1,000 in at $2.50/M = 2,500 µ$; 500 out at $10/M = 5,000 µ$.
  assertEquals(prices.cost("gpt-4o", { inputTokens: 1000, outputTokens: 500 }), 7500);
  assertEquals(prices.cost("gpt-4o", { inputTokens: 1_000_000, outputTokens: 0 }), 2_500_000);
});

Deno.test("fractions of a micro-dollar are rounded up, never down", () => {
  // 1 token at $0.15/M is 0.15 µ$: charged as 1.
  assertEquals(prices.cost("cheap", { inputTokens: 1, outputTokens: 0 }), 1);
  assertEquals(prices.cost("cheap", { inputTokens: 0, outputTokens: 0 }), 0);
  assertEquals(prices.cost("cheap", { inputTokens: 10, outputTokens: 10 }), 8);
});

Deno.test("unknown models take the fallback price", () => {
  assertEquals(prices.has("mystery"), false);
  assertEquals(prices.cost("mystery", { inputTokens: 1000, outputTokens: 1000 }), 20_000);
});

Deno.test("huge token counts stay exact", () => {
  assertEquals(
    prices.cost("gpt-4o", { inputTokens: 10_000_000_000, outputTokens: 0 }),
    25_000_000_000,
  );
});

Deno.test("a cost past a safe integer of micro-dollars is out of range, never rounded or wrapped", () => {
  const dear = new PriceList({
    prices: { dear: { input_per_1m_tokens: 1_000_000, output_per_1m_tokens: 1_000_000 } },
    fallback: { input_per_1m_tokens: 0, output_per_1m_tokens: 0 },
  });
  // $1 a token: the largest count that fits is MAX_SAFE_INTEGER / 1e6 tokens.
  const fits = Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000);
  assertEquals(dear.costIfCountable("dear", { inputTokens: 0, outputTokens: fits }), fits * 1e6);
  assertEquals(dear.costIfCountable("dear", { inputTokens: 0, outputTokens: fits + 1 }), undefined);
  assertEquals(dear.costIfCountable("dear", { inputTokens: fits, outputTokens: fits }), undefined);
  const error = assertThrows(() => dear.cost("dear", { inputTokens: 0, outputTokens: fits + 1 }));
  assert(error instanceof RangeError);
});

Deno.test("token counts that are not safe integers cannot be priced", () => {
  for (const outputTokens of [1e20, Infinity, NaN, -1, 1.5]) {
    assertEquals(prices.costIfCountable("cheap", { inputTokens: 0, outputTokens }), undefined);
    assert(
      assertThrows(() => prices.cost("cheap", { inputTokens: 0, outputTokens })) instanceof
        RangeError,
    );
  }
  // A free model costs nothing however large a count, as long as it is one.
  const free = new PriceList({
    prices: {},
    fallback: { input_per_1m_tokens: 0, output_per_1m_tokens: 0 },
  });
  assertEquals(
    free.costIfCountable("x", { inputTokens: 0, outputTokens: Number.MAX_SAFE_INTEGER }),
    0,
  );
});

Deno.test("prompt cache reads and writes are priced apart, at the input's price when unpriced", () => {
  const prices = new PriceList({
    prices: {
      claude: {
        input_per_1m_tokens: 3,
        output_per_1m_tokens: 15,
        cache_read_per_1m_tokens: 0.3,
        cache_write_per_1m_tokens: 3.75,
      },
      plain: { input_per_1m_tokens: 3, output_per_1m_tokens: 15 },
    },
    fallback: { input_per_1m_tokens: 0, output_per_1m_tokens: 0 },
  });
  const tokens = {
    inputTokens: 1_000_000 + 2_000_000 + 100_000,
    outputTokens: 10_000,
    cacheReadTokens: 2_000_000,
    cacheWriteTokens: 100_000,
  };
  // 1M uncached at $3, 2M read at $0.30, 100k written at $3.75, 10k out at $15.
  assertEquals(prices.cost("claude", tokens), 3_000_000 + 600_000 + 375_000 + 150_000);
  assertEquals(prices.cost("plain", tokens), 3.1 * 3_000_000 + 150_000);
  // A reservation holds the dearest case: every input token at the write price.
  assertEquals(prices.worstCostIfCountable("claude", tokens), 3.1 * 3_750_000 + 150_000);
  assertEquals(
    prices.costIfCountable("claude", { ...tokens, cacheReadTokens: tokens.inputTokens }),
    undefined,
    "cached tokens beyond the input are no usage to price",
  );
  const usage = {
    prompt_tokens: 3_100_000,
    completion_tokens: 10_000,
    total_tokens: 3_110_000,
    prompt_tokens_details: { cached_tokens: 2_000_000 },
    cache_creation_input_tokens: 100_000,
  };
  assertEquals(prices.costOfUsage("claude", usage), prices.cost("claude", tokens));
});
