import type { MiddlewareHandler } from "hono";
import {
  answerHead,
  fingerprintOf,
  type Idempotency,
  type KeyHold,
  parseIdempotencyKey,
  type RecordedAnswer,
  recordStream,
  replayResponse,
} from "../../idempotency/mod.ts";
import type { RequestRecord } from "../../pipeline/mod.ts";
import type { GatewayEnv } from "../context.ts";

/**
 * `Idempotency-Key` on a model route, after authentication (it needs the principal and the body):
 * a request without the header passes straight on; with it, the first request runs and its 2xx
 * answer is recorded, a retry gets that answer again, and a failed request frees the key.
 */
export function idempotent(idempotency: Idempotency): MiddlewareHandler<GatewayEnv> {
  return async function idempotentRequest(c, next) {
    const key = parseIdempotencyKey(c.req.header("idempotency-key"));
    if (key === undefined) return await next();
    const { tenantId, apiKeyId } = c.get("principal");
    const url = new URL(c.req.url);
    const fingerprint = fingerprintOf(c.req.method, url.pathname + url.search, c.get("body"));
    const record = c.get("record");
    const start = await idempotency.begin(
      { tenantId, apiKeyId, key },
      fingerprint,
      c.req.raw.signal,
    );
    if ("replay" in start) {
      record.idempotentReplay = true;
      record.model = start.replay.model;
      record.provider = start.replay.provider;
      record.deployment = start.replay.deployment;
      return replayResponse(start.replay);
    }
    const { hold } = start;
    try {
      await next();
    } catch (error) {
      await hold.release();
      throw error;
    }
    const response = c.res;
    if (response.status < 200 || response.status > 299 || !response.body) {
      await hold.release();
      return;
    }
    if (record.streamDone) {
      const charged = record.streamDone;
      c.res = new Response(
        keepStream(response.body, {
          head: answerHead(response),
          charged,
          hold,
          record,
          idempotency,
        }),
        response,
      );
      return;
    }
    // A whole answer goes out only once it is recorded: a retry right after it finds it.
    const body = new Uint8Array(await response.arrayBuffer());
    await hold.complete({ ...answerHead(response), body, ...served(record) });
    c.res = new Response(body, response);
  };
}

/** Records the stream as it passes; once it ended cleanly and was charged, keeps its events. */
function keepStream(
  body: ReadableStream<Uint8Array>,
  options: {
    head: ReturnType<typeof answerHead>;
    /** Settles once the stream's usage is charged, and its error, if any, known. */
    charged: Promise<void>;
    hold: KeyHold;
    record: RequestRecord;
    idempotency: Idempotency;
  },
): ReadableStream<Uint8Array> {
  const { head, charged, hold, record, idempotency } = options;
  return recordStream(body, idempotency.maxAnswerBytes, (received) => {
    const succeeded = charged.then(() => record.streamError === undefined, () => false);
    void succeeded.then((clean) => {
      if (!clean || received === undefined) return hold.release();
      return hold.complete(received && { ...head, body: received, ...served(record) });
    });
  });
}

function served(record: RequestRecord): Pick<RecordedAnswer, "model" | "provider" | "deployment"> {
  return { model: record.model, provider: record.provider, deployment: record.deployment };
}
