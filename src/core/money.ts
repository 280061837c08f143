/** Micro-dollars in one US dollar: every amount below the API's edge is an integer of these. */
export const MICROS_PER_USD = 1_000_000;

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
