import { type ModelInfo, notFound } from "../core/mod.ts";
import type { Provider } from "../providers/mod.ts";

/** Where one request goes: a provider and the upstream's name for the model. */
export interface Route {
  provider: Provider;
  upstreamModel: string;
}

/** Options of a {@linkcode ModelRouter}. */
export interface ModelRouterOptions {
  provider: Provider;
  /** The public model names served; undefined passes every name on to the provider. */
  models?: string[];
}

/**
 * Maps a requested model to its deployment. With an explicit model list, names outside it are
 * refused with 404 before any upstream is called.
 */
export class ModelRouter {
  readonly #provider: Provider;
  readonly #models: Set<string> | undefined;

  constructor(options: ModelRouterOptions) {
    this.#provider = options.provider;
    this.#models = options.models ? new Set(options.models) : undefined;
  }

  /** The route for `model`; throws a 404 error when the model is not served. */
  resolve(model: string): Route {
    if (this.#models && !this.#models.has(model)) {
      throw notFound(
        `The model '${model}' does not exist or is not served here`,
        "model_not_found",
      );
    }
    return { provider: this.#provider, upstreamModel: model };
  }

  /** The models for `GET /v1/models`. */
  async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    if (!this.#models) return await this.#provider.listModels(signal);
    return [...this.#models].map((id) => ({
      id,
      object: "model" as const,
      created: 0,
      owned_by: this.#provider.name,
    }));
  }
}
