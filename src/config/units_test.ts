import { assertEquals } from "../../tests/assert.ts";
import { parseDuration, parseSize } from "./units.ts";

Deno.test("sizes in the seed's style parse to bytes", () => {
  assertEquals(parseSize("500 MB"), 500_000_000);
  assertEquals(parseSize("1 GiB"), 1_073_741_824);
  assertEquals(parseSize("64kb"), 64_000);
  assertEquals(parseSize("1.5 MB"), 1_500_000);
});

Deno.test("malformed sizes are refused", () => {
  for (const bad of ["", "MB", "500", "500 XB", "-1 MB", "0 MB", "1..2 MB"]) {
    assertEquals(parseSize(bad), undefined, bad);
  }
});

Deno.test("durations in the seed's style parse to milliseconds", () => {
  assertEquals(parseDuration("10 days"), 864_000_000);
  assertEquals(parseDuration("1 day"), 86_400_000);
  assertEquals(parseDuration("12 h"), 43_200_000);
  assertEquals(parseDuration("30 minutes"), 1_800_000);
});

Deno.test("malformed durations are refused", () => {
  for (const bad of ["", "days", "10", "10 fortnights", "-3 days"]) {
    assertEquals(parseDuration(bad), undefined, bad);
  }
});
