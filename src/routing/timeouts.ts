import type { UpstreamFetch } from "../providers/mod.ts";
import type { Deadlines } from "./deadlines.ts";

/** The timeouts of one deployment, in milliseconds. */
export interface DeploymentTimeouts {
  /** The whole attempt, stream included. */
  totalMs: number;
  /** Dialing, TLS included (enforced by the HTTP client the deployment's provider uses). */
  connectMs: number;
  /** From sending the request to the answer's head; undefined: only the total applies. */
  firstByteMs: number | undefined;
  /** Between two chunks of a streamed answer. */
  idleMs: number;
}

/**
 * Wraps a provider's `fetch` so its calls keep a deployment's first-byte and idle timeouts:
 * the call's own signal (from {@linkcode Deadlines.open}) identifies it, so the providers stay
 * unaware of them. A stream's idle time is measured per read the client asked for, so a slow
 * client never counts against the upstream.
 */
export function watchedFetch(
  fetch: UpstreamFetch,
  options: { deadlines: Deadlines; timeouts: DeploymentTimeouts },
): UpstreamFetch {
  const { deadlines, timeouts } = options;
  return async function fetchWithTimeouts(input, init) {
    const signal = init?.signal ?? undefined;
    if (!signal) return await fetch(input, init);
    if (timeouts.firstByteMs !== undefined) {
      deadlines.startPhase(signal, "first_byte", timeouts.firstByteMs);
    }
    const response = await fetch(input, init);
    deadlines.endPhase(signal);
    const type = response.headers.get("content-type") ?? "";
    if (!response.body || !type.includes("text/event-stream")) return response;
    return new Response(idleWatched(response.body, signal, options), response);
  };
}

function idleWatched(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  { deadlines, timeouts }: { deadlines: Deadlines; timeouts: DeploymentTimeouts },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      deadlines.startPhase(signal, "idle", timeouts.idleMs);
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } finally {
        deadlines.endPhase(signal);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
