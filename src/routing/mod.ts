/**
 * @module
 * Model routing: from a requested model name to the provider and upstream model that serve it.
 */
export { ModelRouter, type ModelRouterOptions, type Route } from "./router.ts";
