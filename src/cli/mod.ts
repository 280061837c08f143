/**
 * @module
 * The program's subcommands besides serving: `healthcheck`.
 */
export { healthcheck, type HealthcheckOptions } from "./healthcheck.ts";
