import type { RoutingStrategy } from "../config/mod.ts";
import { badRequest, type ModelInfo, notFound } from "../core/mod.ts";
import type { ProviderOperation } from "../providers/mod.ts";
import type { CircuitState } from "./breaker.ts";
import { circuitModelLabel, type Deployment } from "./deployment.ts";
import { pickCandidate, type RandomSource } from "./strategies.ts";

/** A public model's deployments and the strategy that chooses among them. */
export interface Route {
  readonly model: string;
  readonly strategy: RoutingStrategy;
  readonly deployments: readonly Deployment[];
}

/** Options of a {@linkcode ModelRouter}. */
export interface ModelRouterOptions {
  /** The public models, each with its route. */
  routes: Route[];
  /**
   * Serves any model missing from `routes` (one upstream passed every name); without it such a
   * model gets 404. Its provider also answers `GET /v1/models` when `routes` is empty.
   */
  catchAll?: Omit<Route, "model">;
  /** The random source of the strategies; `Math.random` by default. */
  random?: RandomSource;
}

/** Which deployments a pick should leave out or rather avoid. */
export interface PickOptions {
  /** Never picked (e.g. one that asked for a longer `Retry-After` than the client can wait). */
  excluded?: ReadonlySet<Deployment>;
  /** Picked only when no other is available (those already tried by this request). */
  avoided?: ReadonlySet<Deployment>;
}

/**
 * Maps a requested model to its route, and picks a deployment of a route by its strategy among
 * those whose circuit lets a call through.
 */
export class ModelRouter {
  readonly #routes: Map<string, Route>;
  readonly #catchAll: Omit<Route, "model"> | undefined;
  readonly #random: RandomSource;

  constructor(options: ModelRouterOptions) {
    this.#routes = new Map(options.routes.map((route) => [route.model, route]));
    this.#catchAll = options.catchAll;
    this.#random = options.random ?? Math.random;
  }

  /**
   * The route for `model`; throws a 404 error when the model is not served. With an operation,
   * only the deployments whose provider serves it are kept, and a 400 (`unsupported_operation`)
   * is thrown when none does.
   */
  resolve(
    model: string,
    operation?: Pick<ProviderOperation<unknown>, "endpoint" | "supportedBy">,
  ): Route {
    const route = this.#routes.get(model) ?? (this.#catchAll && { model, ...this.#catchAll });
    if (!route) {
      throw notFound(
        `The model '${model}' does not exist or is not served here`,
        "model_not_found",
      );
    }
    if (!operation) return route;
    const deployments = route.deployments.filter((d) => operation.supportedBy(d.provider));
    if (deployments.length === route.deployments.length) return route;
    if (deployments.length === 0) {
      const providers = [...new Set(route.deployments.map((d) => d.provider.name))].join(", ");
      throw badRequest(
        `The model '${model}' cannot serve ${operation.endpoint}: no provider of its deployments (${providers}) offers it`,
        "unsupported_operation",
        "model",
      );
    }
    return { ...route, deployments };
  }

  /**
   * A deployment of `route` whose circuit lets a call through, by the route's strategy, or
   * undefined when there is none. It does not take the circuit's permit: the caller does, once
   * it is about to call.
   */
  pick(route: Route, options: PickOptions = {}): Deployment | undefined {
    const open = route.deployments.filter((d) => d.breaker.available && !options.excluded?.has(d));
    const fresh = options.avoided ? open.filter((d) => !options.avoided!.has(d)) : open;
    const candidates = fresh.length > 0 ? fresh : open;
    if (candidates.length === 0) return undefined;
    const index = pickCandidate(
      route.strategy,
      candidates.map((d) => ({
        weight: d.weight,
        priority: d.priority,
        latencyMs: d.latency.value,
      })),
      this.#random,
    );
    return candidates[index];
  }

  /** The public model names with a route of their own. */
  get modelNames(): string[] {
    return [...this.#routes.keys()];
  }

  /** Every deployment, once each (one may serve several routes). */
  get deployments(): Deployment[] {
    const all = new Set<Deployment>(this.#catchAll?.deployments);
    for (const route of this.#routes.values()) for (const d of route.deployments) all.add(d);
    return [...all];
  }

  /** Every deployment's circuit and its state, for the status page. */
  circuits(): Array<{ provider: string; model: string; deployment: string; state: CircuitState }> {
    return this.deployments.map((deployment) => ({
      deployment: deployment.name,
      provider: deployment.provider.name,
      model: circuitModelLabel(deployment),
      state: deployment.breaker.state,
    }));
  }

  /** The models for `GET /v1/models`. */
  async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    if (this.#routes.size === 0 && this.#catchAll) {
      return await this.#catchAll.deployments[0].provider.listModels(signal);
    }
    return [...this.#routes.values()].map((route) => ({
      id: route.model,
      object: "model" as const,
      created: 0,
      owned_by: route.deployments[0].provider.name,
    }));
  }
}
