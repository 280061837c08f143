import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { classifyThrown } from "./errors.ts";
import type { StreamOutcome } from "./types.ts";

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
export interface SseTranslation {
  /** The client's text for the next piece of the upstream's. */
  push(text: string): string;
  /** The client's text once the upstream ended, given the decoder's last piece of its text. */
  end(text: string): string;
  /** True once the client's answer is complete: the rest of the upstream is not read. */
  readonly ended: boolean;
  /** The in-band error event the client gets when the upstream breaks off. */
  fail(errorClass: UpstreamErrorClass, message: string): string;
  /** The client went away. */
  cancel(): void;
  /** How the stream ended; read once it has. */
  readonly outcome: StreamOutcome;
}

/**
 * Relays an upstream's SSE bytes through `translation` to the client as they arrive. Pull-based,
 * so a slow client slows the upstream read instead of filling memory; canceling the result
 * cancels the upstream. A break after the head has gone out is told in-band, as OpenAI does;
 * `signal` tells a deadline from a client that went away.
 */
export function relaySse(
  upstream: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  translation: SseTranslation,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const reader = upstream.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let settle: (value: StreamOutcome) => void = () => {};
  const outcome = new Promise<StreamOutcome>((resolve) => settle = resolve);

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          const out = done
            ? translation.end(decoder.decode())
            : translation.push(decoder.decode(value, { stream: true }));
          if (done || translation.ended) {
            if (!done) await reader.cancel().catch(() => {});
            if (out.length > 0) controller.enqueue(encoder.encode(out));
            controller.close();
            settle(translation.outcome);
            return;
          }
          if (out.length > 0) {
            controller.enqueue(encoder.encode(out));
            return;
          }
        }
      } catch (error) {
        const failure = classifyThrown(error, signal);
        if (failure.errorClass === "canceled") {
          translation.cancel();
          settle(translation.outcome);
          return controller.error(error);
        }
        const out = translation.fail(failure.errorClass, failure.message);
        settle(translation.outcome);
        await reader.cancel().catch(() => {});
        controller.enqueue(encoder.encode(out));
        controller.close();
      }
    },
    async cancel(reason) {
      translation.cancel();
      settle(translation.outcome);
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return { body, outcome };
}
