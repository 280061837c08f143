import { assertEquals } from "../../tests/assert.ts";
import {
  anthropicRateLimitHeaders,
  formatDuration,
  parseDuration,
  rateLimitHeaders,
} from "./headers.ts";

Deno.test("durations read as OpenAI writes them", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [1, "1ms"],
    [120, "120ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [6050, "6.05s"],
    [8572, "8.572s"],
    [60_000, "1m0s"],
    [360_000, "6m0s"],
    [3_723_000, "1h2m3s"],
    [0.4, "1ms"],
  ];
  for (const [ms, text] of cases) assertEquals(formatDuration(ms), text, `${ms} ms`);
});

Deno.test("headers name only the limits that are known", () => {
  assertEquals(rateLimitHeaders({}), {});
  assertEquals(
    rateLimitHeaders({ limitRequests: 10, remainingRequests: 9, resetRequestsMs: 6000 }),
    {
      "x-ratelimit-limit-requests": "10",
      "x-ratelimit-remaining-requests": "9",
      "x-ratelimit-reset-requests": "6s",
    },
  );
  assertEquals(
    rateLimitHeaders({
      limitRequests: 60,
      remainingRequests: 0,
      resetRequestsMs: 0,
      limitTokens: 150_000,
      remainingTokens: 149_000,
      resetTokensMs: 400,
    }),
    {
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "0s",
      "x-ratelimit-limit-tokens": "150000",
      "x-ratelimit-remaining-tokens": "149000",
      "x-ratelimit-reset-tokens": "400ms",
    },
  );
});

Deno.test("Anthropic's rate-limit headers tell the same limits, resets as the times they fall at", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const headers = rateLimitHeaders({
    limitRequests: 60,
    remainingRequests: 0,
    resetRequestsMs: 1500,
    limitTokens: 1000,
    remainingTokens: 10,
    resetTokensMs: 6 * 60_000,
  });
  assertEquals(anthropicRateLimitHeaders(headers, now), {
    "anthropic-ratelimit-requests-limit": "60",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:02Z",
    "anthropic-ratelimit-tokens-limit": "1000",
    "anthropic-ratelimit-tokens-remaining": "10",
    "anthropic-ratelimit-tokens-reset": "2026-01-01T00:06:00Z",
  });
});

Deno.test("every duration the OpenAI headers write reads back to its milliseconds", () => {
  for (const ms of [0, 1, 120, 999, 1000, 1500, 59_999, 60_000, 360_000, 3_723_000, 3_600_050]) {
    assertEquals(parseDuration(formatDuration(ms)), ms, formatDuration(ms));
  }
  assertEquals(parseDuration("soon"), undefined);
});
