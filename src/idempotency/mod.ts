/**
 * @module
 * `Idempotency-Key` on the model routes: a retry with the same key and body gets the first
 * answer again (a stream's events too) without a second upstream call or charge. Keys are held
 * and answers recorded in Redis when configured, otherwise in the store.
 */
export { decodeAnswer, encodeAnswer, type RecordedAnswer } from "./answer.ts";
export {
  Idempotency,
  type IdempotencyOptions,
  type IdempotencyOutcome,
  type IdempotentStart,
  type KeyHold,
} from "./idempotency.ts";
export { fingerprintOf, IDEMPOTENCY_KEY_PATTERN, parseIdempotencyKey } from "./key.ts";
export { RedisIdempotencyRecords, type RedisIdempotencyRecordsOptions } from "./redis_records.ts";
export {
  answerHead,
  recordStream,
  REPLAYED_HEADER,
  replayResponse,
  type StreamEnd,
} from "./responses.ts";
export { type IdempotencyStore, StoreIdempotencyRecords } from "./store_records.ts";
export type { ClaimRequest, CompletedRecord, IdempotencyRecords } from "./types.ts";
