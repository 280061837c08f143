/**
 * @module
 * The operator's view of the gateway at one moment: queues and workers, dead letters, recent
 * upstream failures, circuit breakers, tenants near their quota and the most used budgets (the
 * status page's data).
 */
export {
  type BudgetReading,
  type CircuitState,
  type CircuitStatus,
  type CircuitStatusSource,
  type NearQuotaThresholds,
  type StatusSection,
  StatusService,
  type StatusServiceOptions,
  type StatusSnapshot,
} from "./service.ts";
