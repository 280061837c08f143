/**
 * Structured logging as the seed's monitoring contract describes it: JSON lines or the text
 * format, the seed's level names, `trace_id` and other context carried through awaits, secrets
 * redacted, and an optional rotating file. LogTape routes and filters the records; the
 * formatting, the write-behind buffering and the file rotation are ours.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  configure,
  getLogger as getLogTapeLogger,
  type Logger,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import { removeExpired, RotatingFile } from "./_log_file.ts";
export { addKnownSecrets } from "./_log_redact.ts";
import { jsonFormatter, type LineFormatter, LOGTAPE_LEVELS, textFormatter } from "./_log_format.ts";
import { LineBuffer, type LineBufferOptions } from "./_log_writer.ts";

/** How the gateway logs, from the `LOG_*` variables. */
export interface LoggingOptions {
  /** Lowest level written. */
  level: "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";
  /** JSON lines (true) or the seed's text format (false). */
  json: boolean;
  /** Also write to this file, rotated by size and kept by age. */
  filePath?: string;
  /** Rotate the file before it grows past this many bytes. */
  rotationBytes: number;
  /** Delete rotated files last modified longer ago than this. */
  retentionMs: number;
  /** Where console lines go; default Deno.stdout. */
  stdout?: WritableStream<Uint8Array> | { writeSync(p: Uint8Array): number };
}

/** Control over the logging set up by {@linkcode setupLogging}. */
export interface LoggingHandle {
  /** Writes every line logged so far to its destinations. */
  flush(): Promise<void>;
  /** Flushes, closes the file and stops logging; call it last on shutdown. */
  dispose(): Promise<void>;
}

/** A logger for one dotted category; `event` is the seed's event name, e.g. `request_completed`. */
export interface GatewayLogger {
  /** Logs `event` at DEBUG with `fields`. */
  debug(event: string, fields?: Record<string, unknown>): void;
  /** Logs `event` at INFO with `fields`. */
  info(event: string, fields?: Record<string, unknown>): void;
  /** Logs `event` at WARNING with `fields`. */
  warning(event: string, fields?: Record<string, unknown>): void;
  /** Logs `event` at ERROR with `fields`. */
  error(event: string, fields?: Record<string, unknown>): void;
  /** Logs `event` at CRITICAL with `fields`. */
  critical(event: string, fields?: Record<string, unknown>): void;
}

// Lines wait at most 100 ms, and a batch of 64 K characters (a few hundred request lines) goes
// out at once: at 10,000 lines/s that is some 50 writes a second instead of 10,000.
const BATCH: LineBufferOptions = { flushIntervalMs: 100, maxBatchChars: 64 * 1024 };
const HOUR = 3_600_000;
const RANKS = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3, CRITICAL: 4 } as const;
const OFF = 5;

const contextStorage = new AsyncLocalStorage<Record<string, unknown>>();
// Checked before LogTape builds a record, so a DEBUG call in production costs one comparison.
let lowestRank: number = OFF;
let current: object | undefined;

/** Sets up logging (again: a second call replaces the first); returns flush and dispose. */
export async function setupLogging(options: LoggingOptions): Promise<LoggingHandle> {
  const format = (options.json ? jsonFormatter : textFormatter)({
    stack: options.level === "DEBUG",
  });
  const buffers: LineBuffer[] = [];
  const stdoutBuffer = new LineBuffer(options.stdout ?? Deno.stdout, BATCH);
  buffers.push(stdoutBuffer);
  const sinks: Record<string, Sink> = { console: bufferedSink(format, stdoutBuffer) };
  if (options.filePath !== undefined) {
    const file = fileSink(format, options.filePath, options);
    buffers.push(file.buffer);
    sinks.file = file.sink;
  }
  await configure({
    reset: true,
    contextLocalStorage: contextStorage,
    sinks,
    loggers: [
      { category: [], sinks: Object.keys(sinks), lowestLevel: LOGTAPE_LEVELS[options.level] },
      // LogTape's own notices (a sink that threw) only when they are warnings or worse.
      { category: ["logtape", "meta"], lowestLevel: "warning" },
    ],
  });
  const state = {};
  current = state;
  lowestRank = RANKS[options.level];
  return {
    flush: async () => {
      await Promise.all(buffers.map((buffer) => buffer.flush()));
    },
    dispose: async () => {
      // A later setupLogging already disposed these sinks and owns LogTape now.
      if (current !== state) return;
      current = undefined;
      lowestRank = OFF;
      await reset();
    },
  };
}

const loggers = new Map<string, GatewayLogger>();

/** The logger of category `name` (dotted, e.g. "gateway.http"), the `logger` field of its lines. */
export function getLogger(name: string): GatewayLogger {
  let logger = loggers.get(name);
  if (logger === undefined) {
    logger = new CategoryLogger(getLogTapeLogger(name.split(".")));
    loggers.set(name, logger);
  }
  return logger;
}

/** Runs `fn` so that every line logged inside it, across awaits too, carries `context`. */
export function withLogContext<T>(context: Record<string, unknown>, fn: () => T): T {
  // The same storage LogTape reads, used directly so that a context opened before
  // setupLogging (or between two calls of it) is not silently dropped as withContext would.
  return contextStorage.run({ ...contextStorage.getStore(), ...context }, fn);
}

/** The context of the lines logged here and now (`trace_id`, `tenant_id`, ...), set by `withLogContext`. */
export function currentLogContext(): Readonly<Record<string, unknown>> {
  return contextStorage.getStore() ?? {};
}

class CategoryLogger implements GatewayLogger {
  #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  debug(event: string, fields?: Record<string, unknown>): void {
    if (lowestRank <= RANKS.DEBUG) this.#logger.debug(event, fields ?? {});
  }

  info(event: string, fields?: Record<string, unknown>): void {
    if (lowestRank <= RANKS.INFO) this.#logger.info(event, fields ?? {});
  }

  warning(event: string, fields?: Record<string, unknown>): void {
    if (lowestRank <= RANKS.WARNING) this.#logger.warning(event, fields ?? {});
  }

  error(event: string, fields?: Record<string, unknown>): void {
    if (lowestRank <= RANKS.ERROR) this.#logger.error(event, fields ?? {});
  }

  critical(event: string, fields?: Record<string, unknown>): void {
    if (lowestRank <= RANKS.CRITICAL) this.#logger.fatal(event, fields ?? {});
  }
}

function bufferedSink(
  format: LineFormatter,
  buffer: LineBuffer,
  close: () => void = () => {},
): Sink {
  const sink = (record: LogRecord) => {
    buffer.push(format(record));
    // A CRITICAL line often comes just before the process dies: get it out now. ERROR lines
    // wait like the rest, since an upstream outage can produce thousands a second.
    if (record.level === "fatal") buffer.flushSync();
  };
  return Object.assign(sink, {
    // LogTape calls this synchronously on `unload` (Deno.exit, end of the program), where
    // nothing awaited would run: what is queued goes out now.
    [Symbol.dispose]: () => buffer.flushSync(),
    [Symbol.asyncDispose]: async () => {
      await buffer.close();
      close();
    },
  });
}

function fileSink(
  format: LineFormatter,
  path: string,
  options: LoggingOptions,
): { sink: Sink; buffer: LineBuffer } {
  const file = new RotatingFile(path, options);
  removeExpired(path, options.retentionMs);
  // Hourly, or sooner when files are kept for less than an hour; unref'd so that the sweep
  // never keeps the process alive.
  const sweep = setInterval(
    () => removeExpired(path, options.retentionMs),
    Math.min(HOUR, Math.max(1000, options.retentionMs)),
  );
  Deno.unrefTimer(sweep);
  const buffer = new LineBuffer(file, BATCH);
  const sink = bufferedSink(format, buffer, () => {
    clearInterval(sweep);
    file.close();
  });
  return { sink, buffer };
}
