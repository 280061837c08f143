/**
 * @module
 * Routing and resilience: from a requested model to its deployments, chosen by strategy among
 * those whose circuit is closed, called under per-deployment timeouts, with retries, backoff and
 * fallback.
 */
export { buildRouter, type BuildRouterOptions, type ProviderSpec } from "./build.ts";
export {
  type CallVerdict,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitChange,
  type CircuitPermit,
  type CircuitState,
} from "./breaker.ts";
export { type CallPhase, type CallScope, Deadlines } from "./deadlines.ts";
export { createDeployment, type Deployment, type DeploymentContext } from "./deployment.ts";
export { RetryPolicy, type RetryPolicyOptions, type RetryScope } from "./retry_policy.ts";
export { ModelRouter, type ModelRouterOptions, type PickOptions, type Route } from "./router.ts";
export { LatencyAverage, pickCandidate, type RandomSource } from "./strategies.ts";
export { type DeploymentTimeouts, watchedFetch } from "./timeouts.ts";
export {
  type AttemptTrail,
  type CallContext,
  type UpstreamAnswer,
  UpstreamCaller,
  type UpstreamCallerOptions,
} from "./upstream_call.ts";
