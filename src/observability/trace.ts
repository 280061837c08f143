const TRACE_ID = /^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The trace of one request: the id every log line carries, and W3C context to pass on. */
export interface TraceContext {
  traceId: string;
  /** Whether `traceId` is the client's own `X-Trace-Id` rather than one made here. */
  clientTraceId: boolean;
  /** A `traceparent` for the upstream call, when the client sent W3C trace context. */
  traceparent?: string;
}

/**
 * Takes the client's `X-Trace-Id` when it is well-formed (letters, digits, `._:-`, at most 128),
 * else makes one: from a valid W3C `traceparent`, its trace id and the new span the gateway opens
 * for the upstream call (`<trace-id>-<span-id>`), else a `req-…` id. A malformed id is replaced
 * rather than refused, so a client's tracing bug never fails its requests.
 */
export function traceFromHeaders(headers: Headers): TraceContext {
  const given = headers.get("x-trace-id");
  const parent = TRACEPARENT.exec(headers.get("traceparent") ?? "");
  const w3cTraceId = parent && !/^0+$/.test(parent[1]) ? parent[1] : undefined;
  // A W3C trace spans many requests, while a trace id here names one request (it keys its
  // billing), so the gateway's own span id makes it unique and keeps the W3C id searchable.
  const spanId = randomHex(8);
  const traceparent = w3cTraceId ? `00-${w3cTraceId}-${spanId}-${parent![3]}` : undefined;
  if (given && TRACE_ID.test(given)) return { traceId: given, clientTraceId: true, traceparent };
  return {
    traceId: w3cTraceId ? `${w3cTraceId}-${spanId}` : `req-${randomHex(12)}`,
    clientTraceId: false,
    traceparent,
  };
}

function randomHex(bytes: number): string {
  let out = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(bytes))) {
    out += byte.toString(16).padStart(2, "0");
  }
  return out;
}
