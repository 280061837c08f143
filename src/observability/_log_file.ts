/**
 * The log file: size-based rotation (`app.log` → `app.log.1` → `app.log.2` …) and age-based
 * retention of the rotated files. Written here rather than taken from `@logtape/file` because
 * its rotating sink keeps a fixed number of files (we keep by age), cannot be flushed without
 * being disposed, and fsyncs on every batch, a cost the gateway's hot path should not pay.
 */
import { basename, dirname, join } from "node:path";
import { reportWriteError, writeAllSync } from "./_log_writer.ts";

/** How a {@linkcode RotatingFile} rotates and what it keeps. */
export interface RotatingFileOptions {
  /** Rotate before the active file would grow past this many bytes. */
  rotationBytes: number;
  /** Rotated files last modified longer ago than this are deleted. */
  retentionMs: number;
}

/** An append-only log file that rotates by size; its `writeSync` takes whole lines. */
export class RotatingFile {
  #path: string;
  #options: RotatingFileOptions;
  #file: Deno.FsFile;
  #size: number;

  constructor(path: string, options: RotatingFileOptions) {
    this.#path = path;
    this.#options = options;
    Deno.mkdirSync(dirname(path), { recursive: true });
    this.#file = this.#open();
    this.#size = this.#file.statSync().size;
  }

  /** Appends `bytes` (whole lines), rotating at line boundaries when the file would overflow. */
  writeSync(bytes: Uint8Array): number {
    let rest = bytes;
    while (rest.length > 0) {
      const room = this.#options.rotationBytes - this.#size;
      let take = rest.length;
      if (take > room) {
        // Fill the file with as many whole lines as fit. A newline byte never occurs inside a
        // multi-byte UTF-8 character, so cutting after one never splits a character.
        take = room > 0 ? rest.lastIndexOf(0x0a, room - 1) + 1 : 0;
        if (take === 0 && this.#size > 0) {
          this.#rotate();
          continue;
        }
        // A single line longer than a whole file goes alone into a fresh file.
        if (take === 0) take = rest.indexOf(0x0a) + 1 || rest.length;
      }
      writeAllSync(this.#file, rest.subarray(0, take));
      this.#size += take;
      rest = rest.subarray(take);
    }
    return bytes.length;
  }

  /** Closes the active file. */
  close(): void {
    this.#file.close();
  }

  #open(): Deno.FsFile {
    return Deno.openSync(this.#path, { create: true, append: true });
  }

  #rotate(): void {
    this.#file.close();
    try {
      // Shift from the highest number down so that no rename overwrites a file not yet moved.
      for (const { index } of rotatedFiles(this.#path).sort((a, b) => b.index - a.index)) {
        Deno.renameSync(`${this.#path}.${index}`, `${this.#path}.${index + 1}`);
      }
      Deno.renameSync(this.#path, `${this.#path}.1`);
    } finally {
      // Even when a rename failed, keep a file open so that later lines still have a place.
      this.#file = this.#open();
      this.#size = this.#file.statSync().size;
    }
    removeExpired(this.#path, this.#options.retentionMs);
  }
}

/** The rotated siblings of `path` (`path.1`, `path.2`, …), never the active file itself. */
export function rotatedFiles(path: string): { path: string; index: number }[] {
  const folder = dirname(path);
  const prefix = `${basename(path)}.`;
  const found: { path: string; index: number }[] = [];
  for (const entry of Deno.readDirSync(folder)) {
    if (!entry.isFile || !entry.name.startsWith(prefix)) continue;
    const suffix = entry.name.slice(prefix.length);
    if (/^[1-9]\d*$/.test(suffix)) found.push({ path: join(folder, entry.name), index: +suffix });
  }
  return found;
}

/** Deletes the rotated files of `path` last modified more than `retentionMs` ago. */
export function removeExpired(path: string, retentionMs: number, now = Date.now()): void {
  try {
    for (const rotated of rotatedFiles(path)) {
      const modified = Deno.statSync(rotated.path).mtime?.getTime();
      if (modified !== undefined && now - modified > retentionMs) Deno.removeSync(rotated.path);
    }
  } catch (error) {
    // A sweep that fails (a file removed by hand meanwhile, permissions) is retried next hour.
    reportWriteError(error);
  }
}
