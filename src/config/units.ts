const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1_000,
  MB: 1_000_000,
  GB: 1_000_000_000,
  KIB: 1_024,
  MIB: 1_048_576,
  GIB: 1_073_741_824,
};

const DURATION_UNITS: Record<string, number> = {
  S: 1_000,
  SEC: 1_000,
  SECOND: 1_000,
  SECONDS: 1_000,
  M: 60_000,
  MIN: 60_000,
  MINUTE: 60_000,
  MINUTES: 60_000,
  H: 3_600_000,
  HOUR: 3_600_000,
  HOURS: 3_600_000,
  D: 86_400_000,
  DAY: 86_400_000,
  DAYS: 86_400_000,
  W: 604_800_000,
  WEEK: 604_800_000,
  WEEKS: 604_800_000,
};

function parseQuantity(text: string, units: Record<string, number>): number | undefined {
  const trimmed = text.trim();
  let split = 0;
  while (split < trimmed.length && "0123456789.".includes(trimmed[split])) split++;
  const amount = Number(trimmed.slice(0, split));
  const unit = trimmed.slice(split).trim().toUpperCase();
  const factor = units[unit];
  if (split === 0 || !Number.isFinite(amount) || amount <= 0 || factor === undefined) {
    return undefined;
  }
  return Math.round(amount * factor);
}

/** Parses a size such as `500 MB`, `1 GiB` or `1024 B` into bytes; undefined when malformed. */
export function parseSize(text: string): number | undefined {
  return parseQuantity(text, SIZE_UNITS);
}

/** Parses a duration such as `10 days`, `12 h` or `30 minutes` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  return parseQuantity(text, DURATION_UNITS);
}
