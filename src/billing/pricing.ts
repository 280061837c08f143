import type { ModelPrice } from "../config/mod.ts";
import type { Usage } from "../core/mod.ts";

interface MicroPrice {
  /** Micro-dollars per million input tokens. */
  input: bigint;
  /** Micro-dollars per million output tokens. */
  output: bigint;
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

  /** The cost in micro-dollars of `inputTokens` in and `outputTokens` out on `model`. */
  cost(model: string, tokens: { inputTokens: number; outputTokens: number }): number {
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
  costIfCountable(
    model: string,
    tokens: { inputTokens: number; outputTokens: number },
  ): number | undefined {
    if (!isTokenCount(tokens.inputTokens) || !isTokenCount(tokens.outputTokens)) return undefined;
    const price = this.#prices.get(model) ?? this.#fallback;
    const micros = BigInt(tokens.inputTokens) * price.input +
      BigInt(tokens.outputTokens) * price.output;
    const rounded = (micros + MILLION - 1n) / MILLION;
    return rounded > MAX_SAFE ? undefined : Number(rounded);
  }

  /** The cost of OpenAI-style usage. */
  costOfUsage(model: string, usage: Usage): number {
    return this.cost(model, {
      inputTokens: usage.prompt_tokens,
      outputTokens: usage.completion_tokens,
    });
  }
}

function toMicroPrice(price: ModelPrice): MicroPrice {
  return {
    input: BigInt(Math.round(price.input_per_1m_tokens * 1_000_000)),
    output: BigInt(Math.round(price.output_per_1m_tokens * 1_000_000)),
  };
}

function isTokenCount(tokens: number): boolean {
  return Number.isSafeInteger(tokens) && tokens >= 0;
}
