import type { RoutingStrategy } from "../config/mod.ts";

/** What a strategy knows of a deployment it may pick. */
export interface Candidate {
  weight: number;
  /** Lower goes first. */
  priority: number;
  /** The decaying average latency in milliseconds; undefined before the first call. */
  latencyMs: number | undefined;
}

/** A random source in [0, 1), injectable so tests can seed it. */
export type RandomSource = () => number;

/** Share of `least_latency` picks that go to another deployment, to keep measuring it. */
export const EXPLORE_SHARE = 0.05;

/**
 * The index of the candidate `strategy` picks (the list must not be empty).
 *
 * - `weighted`: at random, in proportion to the weights; all weights zero: the first.
 * - `priority`: among the candidates of the lowest priority, weighted.
 * - `least_latency`: the lowest average latency, an unmeasured one first; a small share of
 *   picks goes to another at random, or a deployment once slow would never be measured again.
 */
export function pickCandidate(
  strategy: RoutingStrategy,
  candidates: readonly Candidate[],
  random: RandomSource,
): number {
  if (candidates.length === 0) {
    throw new RangeError("Cannot pick a deployment as there is no candidate");
  }
  if (candidates.length === 1) return 0;
  switch (strategy) {
    case "weighted":
      return weighted(candidates, candidates.map((_, index) => index), random);
    case "priority": {
      const best = Math.min(...candidates.map((c) => c.priority));
      const group = candidates.flatMap((c, index) => c.priority === best ? [index] : []);
      return weighted(candidates, group, random);
    }
    case "least_latency":
      return leastLatency(candidates, random);
  }
}

function weighted(candidates: readonly Candidate[], indexes: number[], random: RandomSource) {
  let total = 0;
  for (const index of indexes) total += candidates[index].weight;
  if (total <= 0) return indexes[0];
  let point = random() * total;
  for (const index of indexes) {
    point -= candidates[index].weight;
    if (point < 0) return index;
  }
  // Rounding can leave a sliver past the last weight: it belongs to the last positive one.
  return indexes.findLast((index) => candidates[index].weight > 0)!;
}

function leastLatency(candidates: readonly Candidate[], random: RandomSource): number {
  let best = 0;
  for (let index = 1; index < candidates.length; index++) {
    if (latencyOf(candidates[index]) < latencyOf(candidates[best])) best = index;
  }
  if (random() >= EXPLORE_SHARE) return best;
  const other = Math.floor(random() * (candidates.length - 1));
  return other >= best ? other + 1 : other;
}

function latencyOf(candidate: Candidate): number {
  return candidate.latencyMs ?? -1;
}

/** A decaying (exponentially weighted) average of a deployment's recent latencies. */
export class LatencyAverage {
  readonly #alpha: number;
  #value: number | undefined;

  /** `alpha` is the weight of the newest sample, from 0 to 1. */
  constructor(alpha = 0.3) {
    this.#alpha = alpha;
  }

  /** The average in milliseconds; undefined before the first sample. */
  get value(): number | undefined {
    return this.#value;
  }

  /** Adds one latency sample, in milliseconds. */
  observe(ms: number): void {
    this.#value = this.#value === undefined ? ms : this.#value + this.#alpha * (ms - this.#value);
  }
}
