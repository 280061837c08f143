import type { UpstreamErrorClass } from "../observability/metrics.ts";
import { classifyStatus, classifyThrown, UpstreamError } from "./errors.ts";

/** One upstream call as a provider makes it: where, how, with which credentials. */
export interface UpstreamRequest {
  fetch: (input: string | URL, init?: RequestInit) => Promise<Response>;
  url: string;
  method: string;
  /** The provider's own headers (its credentials); JSON, trace and accept headers are added. */
  headers: Record<string, string>;
  /** Sent as JSON when set. */
  body: unknown;
  call: { signal: AbortSignal; traceId: string; traceparent?: string };
  /** The upstream's key, scrubbed from any message passed on. */
  apiKey: string | undefined;
  /** Reads what a 4xx body says beyond `error.message`, for upstreams with errors of their own. */
  explainError?: ErrorExplainer;
}

/** What an upstream's 4xx body tells the client: a message and OpenAI's `code` and `param`. */
export interface UpstreamErrorDetail {
  message: string;
  code?: string;
  param?: string;
  /**
   * The class when the answer tells what the status does not: Google answers a wrong key with
   * 400, which is the gateway's failure (`auth`), not the client's; Bedrock names a model that
   * failed (`ModelErrorException`, 424) in a header.
   */
  errorClass?: UpstreamErrorClass;
}

/**
 * Reads an upstream's 4xx answer: its parsed body, and the response for its headers; undefined
 * leaves it to `error.message`.
 */
export type ErrorExplainer = (body: unknown, response: Response) => UpstreamErrorDetail | undefined;

/**
 * Sends one request upstream with the gateway's trace passed on; resolves with a 2xx answer and
 * throws the classified {@linkcode UpstreamError} for a failure or any other status.
 */
export async function sendUpstream(request: UpstreamRequest): Promise<Response> {
  const { call, body } = request;
  const headers: Record<string, string> = {
    "accept": "application/json, text/event-stream",
    ...request.headers,
  };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (call.traceId) headers["x-trace-id"] = call.traceId;
  if (call.traceparent) headers["traceparent"] = call.traceparent;
  let response: Response;
  try {
    response = await request.fetch(request.url, {
      method: request.method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: call.signal,
    });
  } catch (error) {
    throw classifyThrown(error, call.signal);
  }
  if (response.ok) return response;
  throw await errorFromResponse(response, {
    signal: call.signal,
    apiKey: request.apiKey,
    explainError: request.explainError,
  });
}

const MAX_ERROR_BODY_BYTES = 65_536;

/** Reads a whole upstream answer, a failed read classified like a failed `fetch`. */
export async function readText(response: Response, signal: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    throw classifyThrown(error, signal);
  }
}

/** The body of an answer that must be a stream of server-sent events; `invalid_response` if not. */
export async function eventStream(response: Response): Promise<ReadableStream<Uint8Array>> {
  const type = response.headers.get("content-type") ?? "";
  if (!response.body || !type.includes("text/event-stream")) {
    await response.body?.cancel();
    throw new UpstreamError("invalid_response", "The upstream did not answer with a stream");
  }
  return response.body;
}

/** Parses an upstream answer, which must at least be a JSON object. */
export function parseJsonObject<T extends object>(text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UpstreamError("invalid_response", "The upstream answered with invalid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UpstreamError(
      "invalid_response",
      "The upstream answered with JSON that is not an object",
    );
  }
  return value as T;
}

/**
 * The classified error for an upstream's failed answer. OpenAI and Anthropic both put their
 * message at `error.message`; it is kept (scrubbed) only for a 4xx the client caused, with what
 * `explainError` reads from the body when the upstream has errors of its own.
 */
export async function errorFromResponse(
  response: Response,
  options: { signal: AbortSignal; apiKey: string | undefined; explainError?: ErrorExplainer },
): Promise<UpstreamError> {
  const errorClass = classifyStatus(response.status);
  const retryAfter = Number(response.headers.get("retry-after"));
  const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
  let detail: UpstreamErrorDetail | undefined;
  if (errorClass === "client_error") {
    // A 4xx the client caused is worth explaining to it; only what the upstream says is kept.
    const body = await readErrorBody(response, options.signal);
    detail = options.explainError?.(body, response) ?? messageOf(body);
  } else {
    await response.body?.cancel().catch(() => {});
  }
  const message = detail?.message
    ? scrubSecrets(detail.message, options.apiKey).slice(0, 1000)
    : `The upstream answered with status ${response.status}`;
  return new UpstreamError(detail?.errorClass ?? errorClass, message, {
    status: response.status,
    retryAfterSeconds,
    code: detail?.code,
    param: detail?.param,
  });
}

function messageOf(body: unknown): UpstreamErrorDetail | undefined {
  const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof message === "string" ? { message } : undefined;
}

/** The first 64 KiB of an error body as JSON; undefined when it is none. */
async function readErrorBody(response: Response, signal: AbortSignal): Promise<unknown> {
  try {
    const reader = response.body?.getReader();
    if (!reader) return undefined;
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (size < MAX_ERROR_BODY_BYTES && !signal.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
    await reader.cancel().catch(() => {});
    return JSON.parse(new TextDecoder().decode(concat(chunks, size)));
  } catch {
    return undefined;
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) out.set(chunk, offset), offset += chunk.length;
  return out;
}

/**
 * Removes the upstream key itself, whatever its shape (self-hosted servers accept any), and
 * anything shaped like an API key from upstream text before a client sees it.
 */
export function scrubSecrets(text: string, apiKey?: string): string {
  const withoutKey = apiKey ? text.replaceAll(apiKey, "[REDACTED]") : text;
  return withoutKey.replace(/\b(sk|pk|rk)-[A-Za-z0-9_\-*]{6,}/g, "[REDACTED]")
    .replace(/Bearer\s+\S+/gi, "Bearer [REDACTED]");
}
