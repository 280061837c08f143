import { badRequest } from "../core/mod.ts";

/** What a query parameter is checked against. */
export interface RangeOptions {
  /** The parameter's name, for the 400 and its `param`. */
  name: string;
  min: number;
  max: number;
  /** The value when the parameter is absent or empty. */
  fallback: number;
}

// Plain decimal digits only: `Number()` would also take "0x10", "1e3", " 5 " and "Infinity".
const WHOLE = /^\d{1,16}$/;
const DECIMAL = /^\d{1,16}(\.\d{1,16})?$/;

/** A whole number from a query parameter within [min, max]; 400 naming it otherwise. */
export function wholeNumberParam(text: string | undefined, options: RangeOptions): number {
  if (text === undefined || text === "") return options.fallback;
  const value = WHOLE.test(text) ? Number(text) : NaN;
  if (!(value >= options.min && value <= options.max)) {
    throw outOfRange(options, "a whole number");
  }
  return value;
}

/** A decimal number from a query parameter within [min, max]; 400 naming it otherwise. */
export function decimalParam(text: string | undefined, options: RangeOptions): number {
  if (text === undefined || text === "") return options.fallback;
  const value = DECIMAL.test(text) ? Number(text) : NaN;
  if (!(value >= options.min && value <= options.max)) throw outOfRange(options, "a number");
  return value;
}

// A date, or a date and time with an optional fraction and zone; `new Date()` alone would take
// "1" as the year 2001, roll 30 February over into March, and years a database cannot store.
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * An ISO 8601 time from a query parameter (UTC when it names no zone), in the years 1 to 9999;
 * 400 naming the parameter otherwise.
 */
export function timeParam(text: string | undefined, name: string): Date | undefined {
  if (text === undefined) return undefined;
  const match = ISO_TIME.exec(text);
  // Without a zone `Date` would read a time in the server's own zone.
  const date = match && isCalendarTime(match)
    ? new Date(match[4] !== undefined && match[7] === undefined ? `${text}Z` : text)
    : undefined;
  const year = date?.getUTCFullYear() ?? NaN;
  if (!(year >= 1 && year <= 9999)) {
    throw badRequest(
      `'${name}' must be an ISO 8601 time such as 2026-01-31T00:00:00Z`,
      "invalid_request",
      name,
    );
  }
  return date;
}

function isCalendarTime(match: RegExpExecArray): boolean {
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // Years 0 to 99 are read as 1900 to 1999 here, which have the same leap years.
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return false;
  return Number(match[4] ?? 0) <= 23 && Number(match[5] ?? 0) <= 59 &&
    Number(match[6] ?? 0) <= 59;
}

function outOfRange(options: RangeOptions, what: string) {
  return badRequest(
    `'${options.name}' must be ${what} from ${options.min} to ${options.max}`,
    "invalid_request",
    options.name,
  );
}
