import type { Usage } from "../core/mod.ts";

/**
 * What the pipeline learns about one request, for its metrics and its `request_completed` line.
 * The HTTP layer creates it; the pipeline fills it in as it goes.
 */
export interface RequestRecord {
  traceId: string;
  /** Whether the client chose `traceId` (`X-Trace-Id`): then it may repeat an earlier one. */
  clientTraceId: boolean;
  traceparent?: string;
  tenantId?: string;
  apiKeyId?: string;
  model?: string;
  provider?: string;
  /** The deployment of the latest upstream attempt, by name. */
  deployment?: string;
  usage?: Usage;
  /** Seconds spent in upstream attempts, retries and a stream's whole length included. */
  upstreamSeconds?: number;
  /** What the request was charged, in micro-dollars, once known. */
  costMicros?: number;
  /** Settles once a streamed answer has ended and its usage is known. */
  streamDone?: Promise<void>;
  /** Set, before `streamDone` settles, when the stream broke off: the class of what went wrong. */
  streamError?: string;
  /** Whether the answer was replayed from an earlier request with the same `Idempotency-Key`. */
  idempotentReplay?: boolean;
}
