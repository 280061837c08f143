import type { GatewayLogger } from "../observability/logging.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { Provider } from "../providers/mod.ts";
import { CircuitBreaker, type CircuitBreakerOptions } from "./breaker.ts";
import { LatencyAverage } from "./strategies.ts";
import type { DeploymentTimeouts } from "./timeouts.ts";

/** One upstream that serves a public model: a provider, its name for the model, and its health. */
export interface Deployment {
  /** Its name from `MODEL_ROUTES` (or the default): the `deployment` label of metrics and logs. */
  readonly name: string;
  readonly provider: Provider;
  /** The upstream's name for the model; undefined passes the requested name on. */
  readonly upstreamModel: string | undefined;
  readonly weight: number;
  readonly priority: number;
  readonly timeouts: DeploymentTimeouts;
  readonly breaker: CircuitBreaker;
  /** Recent latency to the answer's first byte (a stream's first chunk), for `least_latency`. */
  readonly latency: LatencyAverage;
}

/** What {@linkcode createDeployment} needs besides the deployment's own settings. */
export interface DeploymentContext {
  breaker: Omit<CircuitBreakerOptions, "onStateChange">;
  metrics: GatewayMetrics;
  logger: GatewayLogger;
}

/** The `model` label of a deployment's circuit: its upstream model, `*` when it passes any. */
export function circuitModelLabel(deployment: Pick<Deployment, "upstreamModel">): string {
  return deployment.upstreamModel ?? "*";
}

/**
 * A deployment with its own circuit breaker, whose state is a gauge from the start (closed)
 * and whose every change is logged: `circuit_open` (WARNING), `circuit_half_open` and
 * `circuit_closed` (INFO).
 */
export function createDeployment(
  settings: Omit<Deployment, "breaker" | "latency">,
  context: DeploymentContext,
): Deployment {
  const labels = {
    provider: settings.provider.name,
    model: circuitModelLabel(settings),
    deployment: settings.name,
  };
  const breaker = new CircuitBreaker({
    ...context.breaker,
    onStateChange: (change) => {
      const fields = {
        ...labels,
        from: change.from,
        calls: change.calls,
        failures: change.failures,
      };
      if (change.to === "open") {
        context.logger.warning("circuit_open", {
          ...fields,
          cooldown_ms: context.breaker.cooldownMs,
        });
      } else {
        context.logger.info(`circuit_${change.to}`, fields);
      }
    },
  });
  context.metrics.watchCircuits(() => [{ ...labels, state: breaker.state }]);
  return { ...settings, breaker, latency: new LatencyAverage() };
}
