import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { ADMIN_QUERIES } from "../../tests/numeric_cases.ts";
import { HttpError } from "../core/mod.ts";
import { decimalParam, timeParam, wholeNumberParam } from "./params.ts";

function assertRefused(fn: () => unknown, param: string, text: string) {
  const error = assertThrows(fn, `took ${param}=${JSON.stringify(text)}`);
  assert(error instanceof HttpError, String(error));
  assertEquals([error.status, error.type, error.param], [400, "invalid_request_error", param]);
}

const page = { name: "limit", min: 1, max: 1000, fallback: 50 };

Deno.test("a whole number takes plain digits within its range, and its fallback when absent", () => {
  assertEquals(wholeNumberParam("7", page), 7);
  assertEquals(wholeNumberParam("1000", page), 1000);
  assertEquals(wholeNumberParam(undefined, page), 50);
  assertEquals(wholeNumberParam("", page), 50);
  for (const text of ["0", "1001", "-1", "1.5", "1e2", "0x10", " 5", "5 ", "Infinity", "abc"]) {
    assertRefused(() => wholeNumberParam(text, page), "limit", text);
  }
});

Deno.test("a decimal takes plain decimals within its range, never hex, exponents or infinity", () => {
  const ratio = { name: "key_budget_ratio", min: 0.01, max: 1, fallback: 0.8 };
  assertEquals(decimalParam("0.95", ratio), 0.95);
  assertEquals(decimalParam("1", ratio), 1);
  assertEquals(decimalParam(undefined, ratio), 0.8);
  for (const text of ["0", "1.01", "-0.5", "1e-1", "0x1", "Infinity", "NaN", ".5", "abc"]) {
    assertRefused(() => decimalParam(text, ratio), "key_budget_ratio", text);
  }
});

Deno.test("a time takes ISO 8601 dates and times, read as UTC without a zone", () => {
  assertEquals(timeParam(undefined, "since"), undefined);
  assertEquals(timeParam("2024-01-01", "since")?.toISOString(), "2024-01-01T00:00:00.000Z");
  assertEquals(timeParam("2024-01-01T10:00", "since")?.toISOString(), "2024-01-01T10:00:00.000Z");
  assertEquals(
    timeParam("2024-06-30T12:30:00.5+02:00", "since")?.toISOString(),
    "2024-06-30T10:30:00.500Z",
  );
  assertEquals(timeParam("2024-02-29", "since")?.toISOString(), "2024-02-29T00:00:00.000Z");
  assertEquals(timeParam("0001-01-01T00:00:00Z", "since")?.getUTCFullYear(), 1);
  for (
    const text of ["2023-02-29", "2024-13-01", "2024-01-01T23:60:00Z", "9999-12-31T23:00-05:00"]
  ) {
    assertRefused(() => timeParam(text, "until"), "until", text);
  }
});

Deno.test("every query parameter of the admin API refuses its bad values and takes its good ones", () => {
  const ranges: Record<string, (text: string, param: string) => unknown> = {
    offset: (text, param) =>
      wholeNumberParam(text, { name: param, min: 0, max: 1_000_000, fallback: 0 }),
    limit: (text, param) => wholeNumberParam(text, { ...page, name: param }),
    since: (text, param) => timeParam(text, param),
    until: (text, param) => timeParam(text, param),
    low_balance_usd: (text, param) =>
      decimalParam(text, { name: param, min: 0, max: 1e9, fallback: 1 }),
    key_budget_ratio: (text, param) =>
      decimalParam(text, { name: param, min: 0.01, max: 1, fallback: 0.8 }),
  };
  for (const cases of Object.values(ADMIN_QUERIES)) {
    for (const { param, bad, good } of cases) {
      for (const text of bad) assertRefused(() => ranges[param](text, param), param, text);
      for (const text of good) ranges[param](text, param);
    }
  }
});
