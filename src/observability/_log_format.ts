/**
 * The two line formats of the seed's monitoring contract: JSON lines and the ` | `-separated text
 * format. Both put every field through the redaction in `_log_redact.ts`.
 */
import type { LogLevel, LogRecord } from "@logtape/logtape";
import { sanitizeFields, scrubString } from "./_log_redact.ts";

/** A log level as the seed names them. */
export type LevelName = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";

/** The seed's name for each LogTape level: LogTape's `fatal` is the seed's `CRITICAL`. */
export const LEVEL_NAMES: Record<LogLevel, LevelName> = {
  trace: "DEBUG",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARNING",
  error: "ERROR",
  fatal: "CRITICAL",
};

/** The LogTape level that lets through `level` and everything above it. */
export const LOGTAPE_LEVELS: Record<LevelName, LogLevel> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warning",
  ERROR: "error",
  CRITICAL: "fatal",
};

/** Turns a record into one line, newline included. */
export type LineFormatter = (record: LogRecord) => string;

/** Options shared by both formats. */
export interface FormatOptions {
  /** Include error stacks (when the configured level is DEBUG). */
  stack: boolean;
}

const RESERVED = new Set(["timestamp", "level", "logger", "message"]);

interface Parts {
  timestamp: string;
  level: LevelName;
  logger: string;
  message: string;
  fields: Record<string, unknown>;
}

function parts(record: LogRecord, options: FormatOptions): Parts {
  const raw = record.properties;
  // trace_id leads so that a person scanning lines finds it in the same place every time;
  // the rest keep their order: context fields first, then the event's own.
  const ordered: Record<string, unknown> = "trace_id" in raw ? { trace_id: raw.trace_id } : {};
  for (const key in raw) {
    // A field may not overwrite the four fields every line has; keep it under another name.
    ordered[RESERVED.has(key) ? `field_${key}` : key] = raw[key];
  }
  const message = typeof record.rawMessage === "string"
    ? record.rawMessage
    : record.message.map(String).join("");
  return {
    timestamp: new Date(record.timestamp).toISOString(),
    level: LEVEL_NAMES[record.level],
    logger: record.category.join("."),
    message: scrubString(message),
    fields: sanitizeFields(ordered, options),
  };
}

/** The JSON lines formatter: `{"timestamp":…,"level":…,"logger":…,"message":…,…fields}`. */
export function jsonFormatter(options: FormatOptions): LineFormatter {
  return (record) => {
    const { timestamp, level, logger, message, fields } = parts(record, options);
    return JSON.stringify({ timestamp, level, logger, message, ...fields }) + "\n";
  };
}

/** The text formatter: `2026-01-06 10:30:00.123 | INFO | logger | event | key=value …`, in UTC. */
export function textFormatter(options: FormatOptions): LineFormatter {
  return (record) => {
    const { timestamp, level, logger, message, fields } = parts(record, options);
    const pairs: string[] = [];
    flatten("", fields, pairs);
    const head = `${timestamp.slice(0, 10)} ${timestamp.slice(11, 23)} | ${level} | ${logger} | ${
      textValue(message)
    }`;
    return (pairs.length > 0 ? `${head} | ${pairs.join(" ")}` : head) + "\n";
  };
}

function flatten(prefix: string, object: Record<string, unknown>, out: string[]): void {
  for (const [key, value] of Object.entries(object)) {
    const name = prefix + key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      flatten(`${name}.`, value as Record<string, unknown>, out);
    } else {
      out.push(`${name}=${textValue(value)}`);
    }
  }
}

// Bare when it cannot be misread (so `grep trace_id=req-abc123` works); quoted JSON otherwise,
// which also keeps a multi-line value on one line.
function textValue(value: unknown): string {
  if (typeof value === "string") {
    return value.length > 0 && !/[\s"=|\\]/.test(value) ? value : JSON.stringify(value);
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
