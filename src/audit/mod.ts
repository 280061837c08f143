/**
 * @module
 * The audit trail: one record per request and per admin action, written in batches through the
 * `internal` queue.
 */
export { AUDIT_TASK, AuditWriter, type AuditWriterOptions } from "./writer.ts";
