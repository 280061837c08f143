import type { ModelPrice } from "../config/mod.ts";
import { cachedTokensOf, cacheWriteTokensOf, type Usage } from "../core/mod.ts";

interface MicroPrice {
  /** Micro-dollars per million input tokens. */
  input: bigint;
  /** Micro-dollars per million output tokens. */
  output: bigint;
  /** Micro-dollars per million input tokens read from a prompt cache. */
  cacheRead: bigint;
  /** Micro-dollars per million input tokens written to a prompt cache. */
  cacheWrite: bigint;
}

/** Tokens to price: the input's all of them, the cached ones a part of it priced apart. */
export interface PricedTokens {
  inputTokens: number;
  outputTokens: number;
  /** Of `inputTokens`, those read from a prompt cache. */
  cacheReadTokens?: number;
  /** Of `inputTokens`, those written to a prompt cache. */
  cacheWriteTokens?: number;
}

const MILLION = 1_000_000n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Prices per model, and the cost of a request in integer micro-dollars. Prices are held as
 * micro-dollars per million tokens and multiplied in BigInt, so no cost is ever a float and a
 * fraction of a micro-dollar is rounded up: the gateway never undercharges.
 */
export class PriceList {
  readonly #prices = new Map<string, MicroPrice>();
  readonly #fallback: MicroPrice;

  constructor(options: { prices: Record<string, ModelPrice>; fallback: ModelPrice }) {
    for (const [model, price] of Object.entries(options.prices)) {
      this.#prices.set(model, toMicroPrice(price));
    }
    this.#fallback = toMicroPrice(options.fallback);
  }

  /** Whether `model` has a price of its own (else the fallback applies). */
  has(model: string): boolean {
    return this.#prices.has(model);
  }

  /**
   * The cost in micro-dollars of `tokens` on `model`: the input at its price, but for the part
   * read from or written to a prompt cache, at theirs.
   */
  cost(model: string, tokens: PricedTokens): number {
    const micros = this.costIfCountable(model, tokens);
    if (micros === undefined) {
      throw new RangeError("Cannot price the request: its cost is out of range");
    }
    return micros;
  }

  /**
   * The cost like {@linkcode PriceList.cost}, or undefined when it is past a safe integer of
   * micro-dollars or the token counts are not safe integers themselves.
   */
  costIfCountable(model: string, tokens: PricedTokens): number | undefined {
    const read = tokens.cacheReadTokens ?? 0;
    const written = tokens.cacheWriteTokens ?? 0;
    const counts = [tokens.inputTokens, tokens.outputTokens, read, written];
    if (!counts.every(isTokenCount) || read + written > tokens.inputTokens) return undefined;
    const price = this.#prices.get(model) ?? this.#fallback;
    const uncached = tokens.inputTokens - read - written;
    const micros = BigInt(uncached) * price.input + BigInt(read) * price.cacheRead +
      BigInt(written) * price.cacheWrite + BigInt(tokens.outputTokens) * price.output;
    return roundUp(micros);
  }

  /**
   * The most `tokens` may cost on `model` whatever part of the input a cache reads or writes:
   * the input at the dearest of its prices. What a reservation holds.
   */
  worstCostIfCountable(model: string, tokens: PricedTokens): number | undefined {
    if (!isTokenCount(tokens.inputTokens) || !isTokenCount(tokens.outputTokens)) return undefined;
    const price = this.#prices.get(model) ?? this.#fallback;
    const input = [price.cacheRead, price.cacheWrite].reduce((a, b) => a > b ? a : b, price.input);
    return roundUp(BigInt(tokens.inputTokens) * input + BigInt(tokens.outputTokens) * price.output);
  }

  /** The cost of OpenAI-style usage, its cached prompt tokens told apart. */
  costOfUsage(model: string, usage: Usage): number {
    return this.cost(model, tokensOfUsage(usage));
  }
}

/** The tokens to price of OpenAI-style usage. */
export function tokensOfUsage(usage: Usage): Required<PricedTokens> {
  return {
    inputTokens: usage.prompt_tokens,
    outputTokens: usage.completion_tokens,
    cacheReadTokens: cachedTokensOf(usage),
    cacheWriteTokens: cacheWriteTokensOf(usage),
  };
}

function roundUp(micros: bigint): number | undefined {
  const rounded = (micros + MILLION - 1n) / MILLION;
  return rounded > MAX_SAFE ? undefined : Number(rounded);
}

// A cached token costs what any input token costs unless the price says otherwise.
function toMicroPrice(price: ModelPrice): MicroPrice {
  const micros = (usd: number) => BigInt(Math.round(usd * 1_000_000));
  return {
    input: micros(price.input_per_1m_tokens),
    output: micros(price.output_per_1m_tokens),
    cacheRead: micros(price.cache_read_per_1m_tokens ?? price.input_per_1m_tokens),
    cacheWrite: micros(price.cache_write_per_1m_tokens ?? price.input_per_1m_tokens),
  };
}

function isTokenCount(tokens: number): boolean {
  return Number.isSafeInteger(tokens) && tokens >= 0;
}
