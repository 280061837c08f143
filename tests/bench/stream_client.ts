/**
 * @module
 * Measures how soon a streamed chat completion's first chunk arrives: sends `count` streamed
 * requests one after another over one keep-alive connection (after as many unrecorded ones to
 * warm up), times each from sending to the first body byte with `performance.now()`, reads the
 * rest, and prints the p50 and p99 as JSON. Run as its own process, on the load's CPUs:
 * `deno run --allow-net=127.0.0.1 stream_client.ts <url> <count> <request JSON>`, where the
 * request is `{"headers": {...}, "body": "..."}`.
 */
import { percentile, type StreamSample } from "./report.ts";

/** A streamed request to send: its headers and its JSON body as text. */
export interface StreamRequest {
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `count` streamed requests to `url` in sequence and returns their first-chunk percentiles;
 * throws on an answer that is not a complete 200 SSE stream.
 */
export async function measureFirstChunks(
  url: string,
  request: StreamRequest,
  count: number,
): Promise<StreamSample> {
  for (let i = 0; i < count; i++) await firstChunkMs(url, request);
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push(await firstChunkMs(url, request));
  return {
    requests: count,
    firstChunkP50Ms: percentile(times, 0.5),
    firstChunkP99Ms: percentile(times, 0.99),
  };
}

const decoder = new TextDecoder();

/** Longer than any answer of the mock's through a working gateway; a stuck one fails instead. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Far more reads than the mock's four events can take; a stream without end fails instead. */
const MAX_READS = 1000;

async function firstChunkMs(url: string, request: StreamRequest): Promise<number> {
  const started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (response.status !== 200 || !response.body) {
    throw new Error(
      `Cannot measure streams as ${url} answered ${response.status}: ${await response.text()}`,
    );
  }
  const reader = response.body.getReader();
  let chunk = await reader.read();
  const firstChunk = performance.now() - started;
  let text = "";
  for (let reads = 1; !chunk.done && reads <= MAX_READS; reads++) {
    text += decoder.decode(chunk.value, { stream: true });
    chunk = await reader.read();
  }
  if (!chunk.done) await reader.cancel();
  if (!text.trimEnd().endsWith("data: [DONE]")) {
    throw new Error(`Cannot measure streams as ${url} sent no complete stream: ${text}`);
  }
  return firstChunk;
}

if (import.meta.main) {
  const [url, countArgument, requestArgument] = Deno.args;
  const count = Number(countArgument);
  try {
    if (!URL.canParse(url ?? "") || !Number.isInteger(count) || count < 1) {
      throw new Error(
        `Cannot measure streams as the arguments are not '<url> <count> <request JSON>': ${
          Deno.args.join(" ")
        }`,
      );
    }
    const request = JSON.parse(requestArgument) as StreamRequest;
    console.log(JSON.stringify(await measureFirstChunks(url, request, count)));
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
