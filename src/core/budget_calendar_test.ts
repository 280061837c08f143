import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/assert.ts";
import {
  BudgetCalendar,
  isTimeZone,
  nextPeriodStart,
  periodStart,
  windowStart,
} from "./budget_calendar.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

Deno.test("a UTC day, week and month start at midnight, Monday and the first", () => {
  const instant = at("2026-12-03T15:40:00.123Z"); // a Thursday
  assertEquals(iso(periodStart("daily", instant, "UTC")), "2026-12-03T00:00:00.000Z");
  assertEquals(iso(periodStart("weekly", instant, "UTC")), "2026-11-30T00:00:00.000Z");
  assertEquals(iso(periodStart("monthly", instant, "UTC")), "2026-12-01T00:00:00.000Z");
  assertEquals(iso(nextPeriodStart("daily", instant, "UTC")), "2026-12-04T00:00:00.000Z");
  assertEquals(iso(nextPeriodStart("weekly", instant, "UTC")), "2026-12-07T00:00:00.000Z");
  assertEquals(iso(nextPeriodStart("monthly", instant, "UTC")), "2027-01-01T00:00:00.000Z");
});

Deno.test("the last millisecond of a period is in it and the next one starts the next", () => {
  const last = at("2026-12-31T23:59:59.999Z");
  assertEquals(iso(periodStart("daily", last, "UTC")), "2026-12-31T00:00:00.000Z");
  assertEquals(iso(periodStart("monthly", last, "UTC")), "2026-12-01T00:00:00.000Z");
  assertEquals(iso(nextPeriodStart("monthly", last, "UTC")), "2027-01-01T00:00:00.000Z");
  assertEquals(iso(periodStart("monthly", last + 1, "UTC")), "2027-01-01T00:00:00.000Z");
});

Deno.test("a week that spans a year's end starts on its Monday of the year before", () => {
  const newYear = at("2027-01-01T08:00:00Z"); // a Friday
  assertEquals(iso(periodStart("weekly", newYear, "UTC")), "2026-12-28T00:00:00.000Z");
  assertEquals(iso(nextPeriodStart("weekly", newYear, "UTC")), "2027-01-04T00:00:00.000Z");
  // A Monday starts its own week, a Sunday ends one.
  assertEquals(
    iso(periodStart("weekly", at("2027-01-04T00:00:00Z"), "UTC")),
    "2027-01-04T00:00:00.000Z",
  );
  assertEquals(
    iso(periodStart("weekly", at("2027-01-03T23:59:59Z"), "UTC")),
    "2026-12-28T00:00:00.000Z",
  );
});

Deno.test("February has 29 days in a leap year and 28 otherwise", () => {
  assertEquals(
    iso(nextPeriodStart("daily", at("2028-02-28T12:00:00Z"), "UTC")),
    "2028-02-29T00:00:00.000Z",
  );
  assertEquals(
    iso(nextPeriodStart("daily", at("2027-02-28T12:00:00Z"), "UTC")),
    "2027-03-01T00:00:00.000Z",
  );
  assertEquals(
    iso(nextPeriodStart("monthly", at("2028-02-29T12:00:00Z"), "UTC")),
    "2028-03-01T00:00:00.000Z",
  );
});

Deno.test("periods in a time zone start at its local midnight, not UTC's", () => {
  // 23:30 UTC on 31 December is already 1 January in Berlin (UTC+1 in winter).
  const instant = at("2026-12-31T23:30:00Z");
  assertEquals(iso(periodStart("daily", instant, "Europe/Berlin")), "2026-12-31T23:00:00.000Z");
  assertEquals(iso(periodStart("monthly", instant, "Europe/Berlin")), "2026-12-31T23:00:00.000Z");
  assertEquals(iso(periodStart("monthly", instant, "UTC")), "2026-12-01T00:00:00.000Z");
  // And west of UTC, 03:00 UTC on 1 January is still the last day of the year in New York.
  const west = at("2027-01-01T03:00:00Z");
  assertEquals(iso(periodStart("monthly", west, "America/New_York")), "2026-12-01T05:00:00.000Z");
  assertEquals(
    iso(nextPeriodStart("monthly", west, "America/New_York")),
    "2027-01-01T05:00:00.000Z",
  );
});

Deno.test("a day when clocks go forward is 23 hours long and one when they go back is 25", () => {
  // Berlin: summer time from 29 March 2026 02:00, winter time from 25 October 2026 03:00.
  const spring = at("2026-03-29T12:00:00Z");
  const springStart = periodStart("daily", spring, "Europe/Berlin");
  assertEquals(iso(springStart), "2026-03-28T23:00:00.000Z");
  assertEquals(nextPeriodStart("daily", spring, "Europe/Berlin") - springStart, 23 * 3_600_000);
  const autumn = at("2026-10-25T12:00:00Z");
  const autumnStart = periodStart("daily", autumn, "Europe/Berlin");
  assertEquals(iso(autumnStart), "2026-10-24T22:00:00.000Z");
  assertEquals(nextPeriodStart("daily", autumn, "Europe/Berlin") - autumnStart, 25 * 3_600_000);
  // A week holding the change is an hour short, and starts at the Monday's local midnight.
  const week = periodStart("weekly", spring, "Europe/Berlin");
  assertEquals(iso(week), "2026-03-22T23:00:00.000Z");
  assertEquals(
    nextPeriodStart("weekly", spring, "Europe/Berlin") - week,
    7 * 86_400_000 - 3_600_000,
  );
  // The month of the change starts on winter time, the next one on summer time.
  assertEquals(iso(periodStart("monthly", spring, "Europe/Berlin")), "2026-02-28T23:00:00.000Z");
  assertEquals(
    iso(nextPeriodStart("monthly", spring, "Europe/Berlin")),
    "2026-03-31T22:00:00.000Z",
  );
});

Deno.test("where a change of clocks skips midnight, the day starts at its first hour", () => {
  // Santiago moved from UTC−4 to UTC−3 at local midnight on 11 September 2022: no 00:00 that day.
  const instant = at("2022-09-11T15:00:00Z");
  assertEquals(iso(periodStart("daily", instant, "America/Santiago")), "2022-09-11T04:00:00.000Z");
  assertEquals(
    iso(nextPeriodStart("daily", at("2022-09-10T15:00:00Z"), "America/Santiago")),
    "2022-09-11T04:00:00.000Z",
  );
});

Deno.test("a date a time zone skipped entirely is no period: the next day follows the one before", () => {
  // Samoa left out 30 December 2011, crossing the date line from UTC−10 to UTC+14.
  const before = at("2011-12-29T12:00:00Z"); // 29 December, 02:00 local
  assertEquals(iso(periodStart("daily", before, "Pacific/Apia")), "2011-12-29T10:00:00.000Z");
  assertEquals(iso(nextPeriodStart("daily", before, "Pacific/Apia")), "2011-12-30T10:00:00.000Z");
});

Deno.test("only IANA time zones are accepted", () => {
  assertEquals(isTimeZone("Europe/Berlin"), true);
  assertEquals(isTimeZone("UTC"), true);
  assertEquals(isTimeZone("Mars/Olympus_Mons"), false);
  const error = assertThrows(() => new BudgetCalendar({ timeZone: "Mars/Olympus_Mons" }));
  assertStringIncludes(error.message, "'timeZone' must be an IANA time zone");
});

Deno.test("the calendar follows its clock across a rollover, forwards and back", () => {
  let now = at("2026-12-31T23:59:59.999Z");
  const calendar = new BudgetCalendar({ now: () => now });
  assertEquals(iso(calendar.starts().daily), "2026-12-31T00:00:00.000Z");
  assertEquals(calendar.window("monthly"), {
    period: "monthly",
    start: at("2026-12-01T00:00:00Z"),
    nextResetAt: at("2027-01-01T00:00:00Z"),
  });
  now += 1;
  assertEquals(calendar.starts(), {
    daily: at("2027-01-01T00:00:00Z"),
    weekly: at("2026-12-28T00:00:00Z"),
    monthly: at("2027-01-01T00:00:00Z"),
  });
  now = at("2026-06-15T10:00:00Z");
  assertEquals(iso(calendar.starts().monthly), "2026-06-01T00:00:00.000Z");
});

Deno.test("a lifetime budget's window starts at 0 and never resets", () => {
  const calendar = new BudgetCalendar({ now: () => at("2026-12-03T00:00:00Z") });
  assertEquals(calendar.window(null), { period: null, start: 0, nextResetAt: null });
  assertEquals(windowStart(null, calendar.starts()), 0);
  assertEquals(windowStart("weekly", calendar.starts()), at("2026-11-30T00:00:00Z"));
});
