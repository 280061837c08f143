import { z } from "zod";

/** How a model's deployments share its requests. */
export const ROUTING_STRATEGIES = ["weighted", "priority", "least_latency"] as const;

/** One routing strategy. */
export type RoutingStrategy = typeof ROUTING_STRATEGIES[number];

const timeoutMs = z.number().int().min(1).max(3_600_000);

/** One deployment of a public model, as `MODEL_ROUTES` gives it. */
export const deploymentSpecSchema = z.object({
  provider: z.string().min(1),
  model: z.string().min(1),
  base_url: z.string().url().refine(
    (value) => ["http:", "https:"].includes(new URL(value).protocol),
    "must be an http:// or https:// URL",
  ).optional(),
  api_key_env: z.string().regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "must be the name of an environment variable",
  ).optional(),
  weight: z.number().finite().min(0).max(1_000_000).default(1),
  priority: z.number().int().min(0).max(1_000_000).default(0),
  timeout_ms: timeoutMs.optional(),
  connect_timeout_ms: timeoutMs.optional(),
  first_byte_timeout_ms: timeoutMs.optional(),
  idle_timeout_ms: timeoutMs.optional(),
}).strict();

/** One deployment of a public model. */
export type DeploymentSpec = z.output<typeof deploymentSpecSchema>;

const routeObject = z.object({
  strategy: z.enum(ROUTING_STRATEGIES, {
    errorMap: () => ({ message: `must be one of ${ROUTING_STRATEGIES.join(", ")}` }),
  }).default("weighted"),
  deployments: z.array(deploymentSpecSchema).min(1, "must list at least one deployment"),
}).strict();

/** A public model's deployments and how to choose among them. */
export type RouteSpec = z.output<typeof routeObject>;

/** `MODEL_ROUTES`: public model name to its route; a bare array means `weighted`. */
export const modelRoutesSchema = z.record(
  z.string().min(1),
  z.preprocess((value) => Array.isArray(value) ? { deployments: value } : value, routeObject),
).refine((routes) => Object.keys(routes).length > 0, "must name at least one model");

/** The shape `MODEL_ROUTES` accepts, for error messages. */
export const MODEL_ROUTES_SHAPE =
  '{"gpt-4o": {"strategy": "weighted", "deployments": [{"provider": "openai", "model": "gpt-4o", "base_url": "https://...", "api_key_env": "KEY_VAR", "weight": 1}]}}';

/**
 * Problems `MODEL_ROUTES` has that the schema alone cannot see: a key variable that is not set.
 * The messages name the deployment, never a key.
 */
export function routeProblems(
  routes: Record<string, RouteSpec>,
  env: Record<string, string | undefined>,
): string[] {
  const problems: string[] = [];
  for (const [model, route] of Object.entries(routes)) {
    route.deployments.forEach((deployment, index) => {
      const name = deployment.api_key_env;
      if (name !== undefined && !env[name]) {
        problems.push(
          `MODEL_ROUTES: '${model}.deployments.${index}.api_key_env' names ${name}, which is not set`,
        );
      }
    });
  }
  return problems;
}
