/**
 * @module
 * The HTTP layer: the Hono app with its middleware and routes.
 */
export { type AppOptions, createApp } from "./app.ts";
export type { ReadinessCheck } from "./routes/health.ts";
