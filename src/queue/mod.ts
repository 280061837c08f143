/**
 * @module
 * The job queue: named queues (`default`, `billing`, `internal`, `external`) with retries through
 * `retry`, a dead-letter list, and workers in this process. {@linkcode RedisJobQueue} shares the
 * queues between instances (keys `<prefix>queue:<name>`, see there); {@linkcode MemoryJobQueue}
 * serves a single embedded instance. Both keep every job on disk while Redis cannot take it or,
 * without Redis, until it is acknowledged.
 */
export { MEMORY_JOURNAL_FILE, MemoryJobQueue, type MemoryJobQueueOptions } from "./memory.ts";
export { REDIS_SPOOL_FILE, RedisJobQueue, type RedisJobQueueOptions } from "./redis.ts";
export type { CommonQueueOptions } from "./_shared.ts";
export {
  type EnqueueOptions,
  type Job,
  type JobHandler,
  type JobQueue,
  type QueueName,
  type QueueObserver,
  type TaskStats,
  WORK_QUEUES,
  type WorkerInfo,
  type WorkQueueName,
} from "./types.ts";
