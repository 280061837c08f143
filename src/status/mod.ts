/**
 * @module
 * The operator's view of the gateway at one moment: queues and workers, dead letters, recent
 * upstream failures, circuit breakers, and tenants near their quota (the status page's data).
 */
export {
  type CircuitState,
  type CircuitStatus,
  type CircuitStatusSource,
  type NearQuotaThresholds,
  type StatusSection,
  StatusService,
  type StatusServiceOptions,
  type StatusSnapshot,
} from "./service.ts";
