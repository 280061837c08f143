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

const ANTHROPIC_NAMES: ReadonlyArray<[openai: string, anthropic: string]> = [
  ["x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"],
  ["x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"],
  ["x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset"],
  ["x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"],
  ["x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"],
  ["x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset"],
];

/**
 * Anthropic's `anthropic-ratelimit-*` headers for the `x-ratelimit-*` ones of
 * {@linkcode rateLimitHeaders}: the same limits and remainders, and each reset as the RFC 3339
 * time it falls at (to the second, rounded up), counted from `now`.
 */
export function anthropicRateLimitHeaders(
  headers: Readonly<Record<string, string>>,
  now: Date,
): Record<string, string> {
  const translated: Record<string, string> = {};
  for (const [openai, anthropic] of ANTHROPIC_NAMES) {
    const value = headers[openai];
    if (value === undefined) continue;
    if (!anthropic.endsWith("-reset")) {
      translated[anthropic] = value;
      continue;
    }
    const ms = parseDuration(value);
    // Rounded up to the second, so that a client waiting until then finds the limit reset.
    if (ms !== undefined) {
      const at = new Date(Math.ceil((now.getTime() + ms) / 1000) * 1000);
      translated[anthropic] = at.toISOString().replace(".000Z", "Z");
    }
  }
  return translated;
}

/** Milliseconds of a duration as {@linkcode formatDuration} writes it; undefined for others. */
export function parseDuration(text: string): number | undefined {
  const match = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s|(\d+)ms)?$/.exec(text);
  if (!match || text === "") return undefined;
  const [, hours, minutes, seconds, millis] = match;
  return Number(hours ?? 0) * 3_600_000 + Number(minutes ?? 0) * 60_000 +
    Math.round(Number(seconds ?? 0) * 1000) + Number(millis ?? 0);
}
