/** Micro-dollars in one US dollar: every amount below the API's edge is an integer of these. */
export const MICROS_PER_USD = 1_000_000;

/**
 * The largest amount of the admin API, in dollars: a starting balance, a credit, a budget, and
 * the balance credits may bring a tenant to. Far below a safe integer of micro-dollars, so that
 * sums of balances, reservations and charges stay exact.
 */
export const MAX_USD = 1_000_000_000;

/** {@linkcode MAX_USD} in micro-dollars. */
export const MAX_MICROS = MAX_USD * MICROS_PER_USD;

/** Converts a dollar amount from the API's edge to integer micro-dollars, rounding half away. */
export function usdToMicros(usd: number): number {
  const micros = Math.round(usd * MICROS_PER_USD);
  if (!Number.isSafeInteger(micros)) {
    throw new RangeError(`Cannot convert ${usd} USD to micro-dollars: out of range`);
  }
  return micros;
}

/** Converts integer micro-dollars to dollars for the API's edge. */
export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}
