import type { RecordedAnswer } from "./answer.ts";

/** The header that marks an answer replayed from the record of an earlier request. */
export const REPLAYED_HEADER = "idempotent-replayed";

/** The recorded answer again, marked as a replay. */
export function replayResponse(answer: RecordedAnswer): Response {
  const headers = new Headers(answer.headers);
  headers.set(REPLAYED_HEADER, "true");
  return new Response(answer.body, { status: answer.status, headers });
}

/** The status and headers of `response`, to record beside its body. */
export function answerHead(response: Response): Omit<RecordedAnswer, "body"> {
  return { status: response.status, headers: [...response.headers] };
}

/**
 * How a recorded stream ended: `body` is every byte the client received, null when they were more
 * than the cap (no longer kept), and undefined when the stream broke off or was canceled.
 */
export type StreamEnd = (body: Uint8Array<ArrayBuffer> | null | undefined) => void;

/**
 * Passes `body` through untouched, each chunk forwarded before it is copied, and keeps a copy of
 * up to `maxBytes` for the record; `ended` is called once when the stream ends, breaks or is
 * canceled.
 */
export function recordStream(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  ended: StreamEnd,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let chunks: Uint8Array[] | null = [];
  let size = 0;
  let finished = false;
  const finish = (clean: boolean) => {
    if (finished) return;
    finished = true;
    ended(clean ? chunks && concat(chunks, size) : undefined);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          finish(true);
          return;
        }
        controller.enqueue(value);
        size += value.length;
        if (chunks && size > maxBytes) chunks = null;
        chunks?.push(value.slice());
      } catch (error) {
        controller.error(error);
        finish(false);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      finish(false);
    },
  }, { highWaterMark: 0 });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) bytes.set(chunk, offset), offset += chunk.length;
  return bytes;
}
