import {
  ConfigError,
  defaultDeploymentName,
  type DeploymentSpec,
  type RouteSpec,
} from "../config/mod.ts";
import type { Provider } from "../providers/mod.ts";
import { createDeployment, type Deployment, type DeploymentContext } from "./deployment.ts";
import { ModelRouter, type Route } from "./router.ts";
import type { RandomSource } from "./strategies.ts";
import type { DeploymentTimeouts } from "./timeouts.ts";

/** Which provider a deployment uses and where: what a provider is built from. */
export type ProviderSpec = Pick<
  DeploymentSpec,
  | "provider"
  | "base_url"
  | "api_key_env"
  | "azure_deployment"
  | "api_version"
  | "azure_ad_token_file"
  | "vertex_project"
  | "vertex_location"
  | "vertex_token_file"
  | "vertex_credentials_file"
  | "api"
>;

/** What {@linkcode buildRouter} needs. */
export interface BuildRouterOptions {
  /** `MODEL_ROUTES`; undefined: one deployment, `single`, serves the models. */
  routes: Record<string, RouteSpec> | undefined;
  /**
   * Without routes: the one provider, its base URL (for the deployment's name), and the models
   * it serves (undefined: every name).
   */
  single: { provider: string; baseUrl?: string; models: string[] | undefined };
  /** Timeouts of deployments that set none of their own. */
  defaults: DeploymentTimeouts;
  /** Builds a deployment's provider; throws an `Error` saying what is wrong. */
  createProvider(spec: ProviderSpec, timeouts: DeploymentTimeouts): Provider;
  context: DeploymentContext;
  random?: RandomSource;
}

/**
 * The router for the configuration: the routes of `MODEL_ROUTES`, or the foundation's single
 * upstream serving every model. A deployment that cannot be built stops the start with a
 * {@linkcode ConfigError} naming the variable and the deployment.
 */
export function buildRouter(options: BuildRouterOptions): ModelRouter {
  const { routes, single, defaults, context } = options;
  if (routes === undefined) {
    const deployment = createDeployment({
      name: defaultDeploymentName({ provider: single.provider, base_url: single.baseUrl }),
      provider: options.createProvider({ provider: single.provider }, defaults),
      upstreamModel: undefined,
      weight: 1,
      priority: 0,
      timeouts: defaults,
    }, context);
    const route = { strategy: "weighted" as const, deployments: [deployment] };
    return new ModelRouter({
      routes: (single.models ?? []).map((model) => ({ model, ...route })),
      catchAll: single.models === undefined ? route : undefined,
      random: options.random,
    });
  }
  const built: Route[] = Object.entries(routes).map(([model, spec]) => ({
    model,
    strategy: spec.strategy,
    deployments: spec.deployments.map((deployment, index) =>
      buildDeployment(deployment, `${model}.deployments.${index}`, options)
    ),
  }));
  return new ModelRouter({ routes: built, random: options.random });
}

function buildDeployment(
  spec: DeploymentSpec,
  where: string,
  options: BuildRouterOptions,
): Deployment {
  const { defaults } = options;
  const timeouts: DeploymentTimeouts = {
    totalMs: spec.timeout_ms ?? defaults.totalMs,
    connectMs: spec.connect_timeout_ms ?? defaults.connectMs,
    firstByteMs: spec.first_byte_timeout_ms ?? defaults.firstByteMs,
    idleMs: spec.idle_timeout_ms ?? defaults.idleMs,
  };
  let provider: Provider;
  try {
    provider = options.createProvider(spec, timeouts);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError([`MODEL_ROUTES: the deployment at '${where}' ${message}`]);
  }
  return createDeployment({
    name: spec.name,
    provider,
    upstreamModel: spec.model,
    weight: spec.weight,
    priority: spec.priority,
    timeouts,
  }, options.context);
}
