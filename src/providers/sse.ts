import type { StreamOutcome } from "./types.ts";
import { relay, type Translation } from "./_relay.ts";

/** One server-sent event: its exact text as received, and its joined `data` field if any. */
export interface SseEvent {
  raw: string;
  data: string | undefined;
}

/**
 * Splits a text stream into server-sent events as the SSE specification defines them (lines end
 * in CRLF, LF or CR; a blank line ends an event), keeping each event's exact text so that it can
 * be forwarded untouched while its data is inspected.
 */
export class SseSplitter {
  #buffer = "";
  #scanned = 0;
  #lineStart = 0;

  /** Adds text and returns the events it completed, in order. */
  push(text: string): SseEvent[] {
    this.#buffer += text;
    const events: SseEvent[] = [];
    let eventStart = 0;
    let lineStart = this.#lineStart;
    let index = this.#scanned;
    const buffer = this.#buffer;
    while (index < buffer.length) {
      const char = buffer.charCodeAt(index);
      if (char !== 10 && char !== 13) {
        index++;
        continue;
      }
      // A CR at the very end may be the first half of a CRLF still in flight.
      if (char === 13 && index + 1 === buffer.length) break;
      const lineEnd = char === 13 && buffer.charCodeAt(index + 1) === 10 ? index + 2 : index + 1;
      if (index === lineStart) {
        const raw = buffer.slice(eventStart, lineEnd);
        events.push({ raw, data: dataOf(buffer.slice(eventStart, lineStart)) });
        eventStart = lineEnd;
      }
      lineStart = lineEnd;
      index = lineEnd;
    }
    this.#buffer = buffer.slice(eventStart);
    this.#scanned = index - eventStart;
    this.#lineStart = lineStart - eventStart;
    return events;
  }

  /** Text received after the last complete event. */
  get pending(): string {
    return this.#buffer;
  }
}

function dataOf(block: string): string | undefined {
  let data: string | undefined;
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (!line.startsWith("data")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== "data") continue;
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

/** What a relay makes of an upstream's SSE text, for {@linkcode relaySse}. */
export interface SseTranslation extends Omit<Translation<string>, "end"> {
  /** The client's text once the upstream ended, given the decoder's last piece of its text. */
  end(text: string): string;
}

/**
 * Relays an upstream's SSE bytes, decoded as UTF-8 text, through `translation` to the client as
 * they arrive (see {@linkcode relay}).
 */
export function relaySse(
  upstream: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  translation: SseTranslation,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const decoder = new TextDecoder();
  return relay(upstream.getReader(), signal, {
    push: (bytes: Uint8Array) => translation.push(decoder.decode(bytes, { stream: true })),
    end: () => translation.end(decoder.decode()),
    get ended() {
      return translation.ended;
    },
    fail: (errorClass, message) => translation.fail(errorClass, message),
    cancel: () => translation.cancel(),
    get outcome() {
      return translation.outcome;
    },
  });
}

/** Options of {@linkcode relaySseEvents}. */
export interface SseEventRelayOptions<Event extends object> {
  /** The call's signal, to tell a deadline from a client that went away. */
  signal: AbortSignal;
  /** Turns the upstream's events into the client's text, and tells how the stream ended. */
  translator: Translation<Event>;
  /** The event in one `data` field, or why it is not one. */
  parse(data: string): Event | string;
}

/**
 * Relays an upstream's SSE stream through a translator of its events as they arrive: each
 * event's `data` parsed, one that is no event ending the stream in-band as an invalid response.
 */
export function relaySseEvents<Event extends object>(
  upstream: ReadableStream<Uint8Array>,
  { signal, translator, parse }: SseEventRelayOptions<Event>,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const splitter = new SseSplitter();
  const translate = (text: string): string => {
    let out = "";
    for (const event of splitter.push(text)) {
      if (event.data === undefined || translator.ended) continue;
      const parsed = parse(event.data);
      out += typeof parsed === "string"
        ? translator.fail("invalid_response", parsed)
        : translator.push(parsed);
    }
    return out;
  };
  return relaySse(upstream, signal, {
    push: translate,
    end: (text) => translate(text) + translator.end(),
    get ended() {
      return translator.ended;
    },
    fail: (errorClass, message) => translator.fail(errorClass, message),
    cancel: () => translator.cancel(),
    get outcome() {
      return translator.outcome;
    },
  });
}
