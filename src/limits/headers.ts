import type { RateLimitState } from "./types.ts";

/**
 * OpenAI's `x-ratelimit-*` headers for `state`: limit, remaining and reset (a duration such as
 * "1s", "6m0s" or "120ms") of requests and of tokens, each only when known.
 */
export function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const headers: Record<string, string> = {};
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) headers[name] = value;
  };
  set("x-ratelimit-limit-requests", state.limitRequests?.toString());
  set("x-ratelimit-remaining-requests", state.remainingRequests?.toString());
  set("x-ratelimit-reset-requests", ifKnown(state.resetRequestsMs, formatDuration));
  set("x-ratelimit-limit-tokens", state.limitTokens?.toString());
  set("x-ratelimit-remaining-tokens", state.remainingTokens?.toString());
  set("x-ratelimit-reset-tokens", ifKnown(state.resetTokensMs, formatDuration));
  return headers;
}

/** `ms` as OpenAI writes durations (Go's format): "120ms", "1.5s", "6m0s", "1h2m3s", "0s". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return "0s";
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  const seconds = `${Math.floor(millis / 1000)}${fraction(millis % 1000)}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}

// ".5" for 500 ms, ".05" for 50, "" for 0: Go drops trailing zeros.
function fraction(ms: number): string {
  return ms === 0 ? "" : `.${ms.toString().padStart(3, "0").replace(/0+$/, "")}`;
}

function ifKnown<T>(value: T | undefined, format: (value: T) => string): string | undefined {
  return value === undefined ? undefined : format(value);
}
