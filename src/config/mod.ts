/**
 * @module
 * Configuration from the environment only, validated by one schema at start.
 */
export {
  type Config,
  ConfigError,
  ENVIRONMENT,
  loadConfig,
  type LogLevelName,
  type ModelPrice,
  modelPriceSchema,
} from "./schema.ts";
export {
  defaultDeploymentName,
  type DeploymentSpec,
  type RouteSpec,
  ROUTING_STRATEGIES,
  type RoutingStrategy,
} from "./routes.ts";
export { parseDuration, parseSize } from "./units.ts";
