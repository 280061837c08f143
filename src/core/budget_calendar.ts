/** How often a budget starts afresh; a budget without a period lasts for the account's life. */
export type BudgetPeriod = "daily" | "weekly" | "monthly";

/** Every budget period, in the order the admin API lists them. */
export const BUDGET_PERIODS: readonly BudgetPeriod[] = ["daily", "weekly", "monthly"];

/**
 * Where each period that holds an instant began, in ms since the epoch: the start of its calendar
 * day, of its week (Mondays) and of its month, in one time zone. Spend is kept per period start,
 * so a new period is a new counter and a rollover needs no reset.
 */
export interface PeriodStarts {
  daily: number;
  weekly: number;
  monthly: number;
}

/** A budget's current period: when it began and when the next one begins (null: no period). */
export interface BudgetWindow {
  period: BudgetPeriod | null;
  /** The period's start in ms since the epoch; 0 for a lifetime budget. */
  start: number;
  /** When the budget resets next, in ms since the epoch; null for a lifetime budget. */
  nextResetAt: number | null;
}

/** Whether `name` is a time zone this runtime knows (an IANA name such as `Europe/Berlin`). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

interface LocalTime {
  year: number;
  /** 1 to 12. */
  month: number;
  day: number;
  /** The wall clock as if it were UTC, in ms: what `Date.UTC` makes of the local fields. */
  wall: number;
}

function localTime(instant: number, timeZone: string): LocalTime {
  const fields: Record<string, number> = {};
  for (const part of formatterOf(timeZone).formatToParts(instant)) {
    if (part.type !== "literal") fields[part.type] = Number(part.value);
  }
  const { year, month, day, hour, minute, second } = fields;
  const wall = Date.UTC(year, month - 1, day, hour, minute, second) +
    (instant % 1000 + 1000) % 1000;
  return { year, month, day, wall };
}

/**
 * The first instant of the local calendar date (year, month, day) in `timeZone`: its midnight, or,
 * where a change of clocks skips midnight, the first time that day has. Fields past their range
 * roll over as `Date.UTC` rolls them (day 32 of January is February 1).
 */
function startOfLocalDate(year: number, month: number, day: number, timeZone: string): number {
  const midnight = Date.UTC(year, month - 1, day);
  const target = new Date(midnight);
  const sameDate = (instant: number) => {
    const local = localTime(instant, timeZone);
    return local.year === target.getUTCFullYear() && local.month === target.getUTCMonth() + 1 &&
      local.day === target.getUTCDate();
  };
  // The offsets in force half a day either side cover any change of clocks near midnight.
  const candidates = [midnight - 12 * 3_600_000, midnight + 12 * 3_600_000]
    .map((probe) => midnight - (localTime(probe, timeZone).wall - probe))
    .filter(sameDate);
  if (candidates.length > 0) return Math.min(...candidates);
  // The whole date was skipped (Samoa left out 30 December 2011): the next one starts it.
  return startOfLocalDate(year, month, day + 1, timeZone);
}

function weekdayFromMonday(year: number, month: number, day: number): number {
  return (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7;
}

/** Where the `period` holding `instant` (ms since the epoch) began in `timeZone`. */
export function periodStart(period: BudgetPeriod, instant: number, timeZone: string): number {
  const { year, month, day } = localTime(instant, timeZone);
  switch (period) {
    case "daily":
      return startOfLocalDate(year, month, day, timeZone);
    case "weekly":
      return startOfLocalDate(year, month, day - weekdayFromMonday(year, month, day), timeZone);
    case "monthly":
      return startOfLocalDate(year, month, 1, timeZone);
  }
}

/** Where the `period` after the one holding `instant` begins in `timeZone`. */
export function nextPeriodStart(period: BudgetPeriod, instant: number, timeZone: string): number {
  const { year, month, day } = localTime(periodStart(period, instant, timeZone), timeZone);
  switch (period) {
    case "daily":
      return startOfLocalDate(year, month, day + 1, timeZone);
    case "weekly":
      return startOfLocalDate(year, month, day + 7, timeZone);
    case "monthly":
      return startOfLocalDate(year, month + 1, 1, timeZone);
  }
}

/** The start of each period holding `instant` (ms since the epoch) in `timeZone`. */
export function periodsHolding(instant: number, timeZone: string): PeriodStarts {
  return {
    daily: periodStart("daily", instant, timeZone),
    weekly: periodStart("weekly", instant, timeZone),
    monthly: periodStart("monthly", instant, timeZone),
  };
}

/** What a {@linkcode BudgetCalendar} is built from. */
export interface BudgetCalendarOptions {
  /** An IANA time zone; default `UTC`. */
  timeZone?: string;
  /** The clock, in ms since the epoch; default `Date.now`. Injected by tests. */
  now?: () => number;
}

/**
 * Budget periods on one clock and in one time zone. The period starts of the current instant are
 * kept until the earliest next reset, so asking on every request costs a comparison.
 */
export class BudgetCalendar {
  /** The time zone periods are counted in. */
  readonly timeZone: string;
  readonly #now: () => number;
  #starts: PeriodStarts | undefined;
  #validUntil = -Infinity;

  constructor(options: BudgetCalendarOptions = {}) {
    const timeZone = options.timeZone ?? "UTC";
    if (!isTimeZone(timeZone)) {
      throw new RangeError(
        `Cannot count budget periods as 'timeZone' must be an IANA time zone: current value is "${timeZone}"`,
      );
    }
    this.timeZone = timeZone;
    this.#now = options.now ?? Date.now;
  }

  /** The current instant on this calendar's clock, in ms since the epoch. */
  now(): number {
    return this.#now();
  }

  /** The start of each period holding the current instant. */
  starts(): PeriodStarts {
    const now = this.#now();
    const starts = this.#starts;
    // The clock may be set back (tests do it); the cached starts then no longer hold.
    if (starts !== undefined && now < this.#validUntil && now >= starts.daily) return starts;
    const fresh = periodsHolding(now, this.timeZone);
    this.#starts = fresh;
    this.#validUntil = nextPeriodStart("daily", now, this.timeZone);
    return fresh;
  }

  /** The current period of a budget with `period` (null: a lifetime budget). */
  window(period: BudgetPeriod | null): BudgetWindow {
    if (period === null) return { period, start: 0, nextResetAt: null };
    const start = this.starts()[period];
    return { period, start, nextResetAt: nextPeriodStart(period, start, this.timeZone) };
  }
}

/** Where the period `period` (null: lifetime, which starts at 0) began, from `starts`. */
export function windowStart(period: BudgetPeriod | null, starts: PeriodStarts): number {
  return period === null ? 0 : starts[period];
}
