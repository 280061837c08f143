import { assertEquals } from "../../tests/assert.ts";
import { formatDuration, rateLimitHeaders } from "./headers.ts";

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
