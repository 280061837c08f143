import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { classifyThrown } from "./errors.ts";
import type { StreamOutcome } from "./types.ts";

/** What a relay makes of an upstream's pieces (bytes, decoded events), for {@linkcode relay}. */
export interface Translation<Piece> {
  /** The client's text for the next piece of the upstream's stream. */
  push(piece: Piece): string;
  /** The client's text once the upstream ended. */
  end(): string;
  /** True once the client's answer is complete: the rest of the upstream is not read. */
  readonly ended: boolean;
  /** The in-band error event the client gets when the upstream breaks off. */
  fail(errorClass: UpstreamErrorClass, message: string): string;
  /** The client went away. */
  cancel(): void;
  /** How the stream ended; read once it has. */
  readonly outcome: StreamOutcome;
}

/** Where a relay reads the upstream's pieces: a stream reader, or anything read the same way. */
export interface PieceSource<Piece> {
  read(): Promise<{ done: true; value?: unknown } | { done: false; value: Piece }>;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * Relays an upstream's pieces through `translation` to the client as they arrive, as bytes of
 * text. Pull-based, so a slow client slows the upstream read instead of filling memory; canceling
 * the result cancels the upstream. A break after the head has gone out is told in-band, as
 * OpenAI does; `signal` tells a deadline from a client that went away.
 */
export function relay<Piece>(
  source: PieceSource<Piece>,
  signal: AbortSignal,
  translation: Translation<Piece>,
): { body: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const encoder = new TextEncoder();
  let settle: (value: StreamOutcome) => void = () => {};
  const outcome = new Promise<StreamOutcome>((resolve) => settle = resolve);

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const next = await source.read();
          const out = next.done ? translation.end() : translation.push(next.value);
          if (next.done || translation.ended) {
            if (!next.done) await source.cancel().catch(() => {});
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
        await source.cancel().catch(() => {});
        controller.enqueue(encoder.encode(out));
        controller.close();
      }
    },
    async cancel(reason) {
      translation.cancel();
      settle(translation.outcome);
      await source.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return { body, outcome };
}
