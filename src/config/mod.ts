/**
 * @module
 * Configuration from the environment only, validated by one schema at start.
 */
export { type Config, ConfigError, ENVIRONMENT, loadConfig, type LogLevelName } from "./schema.ts";
export { parseDuration, parseSize } from "./units.ts";
