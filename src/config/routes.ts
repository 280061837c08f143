import { z } from "zod";

/** How a model's deployments share its requests. */
export const ROUTING_STRATEGIES = ["weighted", "priority", "least_latency"] as const;

/** One routing strategy. */
export type RoutingStrategy = typeof ROUTING_STRATEGIES[number];

const timeoutMs = z.number().int().min(1).max(3_600_000);

/** Longest deployment name: room for a provider, a long upstream model name and a host. */
const DEPLOYMENT_NAME_MAX = 128;

/**
 * A deployment's name: the `deployment` label of metrics, so characters that are safe in a label
 * value, a log field and a URL alike, and a bounded length.
 */
const DEPLOYMENT_NAME_PATTERN = new RegExp(`^[A-Za-z0-9._:-]{1,${DEPLOYMENT_NAME_MAX}}$`);

const UNSAFE_NAME_CHARS = /[^A-Za-z0-9._:-]/g;

/** The fields some providers alone read, and which: a deployment of another may not set them. */
const PROVIDER_FIELDS: Readonly<Record<string, readonly string[]>> = {
  azure_deployment: ["azure"],
  api_version: ["azure"],
  azure_ad_token_file: ["azure"],
  vertex_project: ["gemini"],
  vertex_location: ["gemini"],
  vertex_token_file: ["gemini"],
  vertex_credentials_file: ["gemini"],
  api: ["openai"],
};

/** The APIs an `openai` deployment may speak: chat completions, or the Responses API as well. */
export const DEPLOYMENT_APIS = ["chat", "responses"] as const;

/** Where a Vertex AI deployment's models are: both needed. */
const VERTEX_PLACE = ["vertex_project", "vertex_location"] as const;
/** How a Vertex AI deployment gets its token: exactly one. */
const VERTEX_CREDENTIALS = ["vertex_token_file", "vertex_credentials_file"] as const;

/** One deployment of a public model, as `MODEL_ROUTES` gives it. */
export const deploymentSpecSchema = z.object({
  name: z.string().regex(
    DEPLOYMENT_NAME_PATTERN,
    `must be 1 to ${DEPLOYMENT_NAME_MAX} of A-Z a-z 0-9 . _ : -`,
  ).optional(),
  provider: z.string().min(1),
  model: z.string().min(1),
  base_url: z.string().url().refine(
    // Zod runs this even after `url()` failed: a value that is no URL must not throw here.
    (value) => URL.canParse(value) && ["http:", "https:"].includes(new URL(value).protocol),
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
  azure_deployment: z.string().regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "must be an Azure deployment name: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
  ).optional(),
  api_version: z.string().regex(
    /^(v1|\d{4}-\d{2}-\d{2}(-preview)?)$/,
    "must be a dated API version such as 2024-10-21 or 2025-04-01-preview, or v1",
  ).optional(),
  azure_ad_token_file: z.string().min(1).optional(),
  vertex_project: z.string().regex(
    /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
    "must be a Google Cloud project id: 6 to 30 of a-z 0-9 -, starting with a letter",
  ).optional(),
  vertex_location: z.string().regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    "must be a Google Cloud location such as us-central1, europe-west4 or global",
  ).optional(),
  vertex_token_file: z.string().min(1).optional(),
  vertex_credentials_file: z.string().min(1).optional(),
  api: z.enum(DEPLOYMENT_APIS, {
    errorMap: () => ({ message: `must be one of ${DEPLOYMENT_APIS.join(", ")}` }),
  }).optional(),
}).strict().superRefine((spec, ctx) => {
  for (const [field, providers] of Object.entries(PROVIDER_FIELDS)) {
    if (spec[field as keyof typeof spec] === undefined || providers.includes(spec.provider)) {
      continue;
    }
    ctx.addIssue({
      code: "custom",
      path: [field],
      message: `is a field of ${providers.join(", ")} deployments only`,
    });
  }
  for (const field of ["azure_ad_token_file", ...VERTEX_CREDENTIALS] as const) {
    if (spec.api_key_env === undefined || spec[field] === undefined) continue;
    ctx.addIssue({
      code: "custom",
      path: [field],
      message: "cannot be set with api_key_env: a deployment sends a key or a token, not both",
    });
  }
  for (const [field, message] of vertexProblems(spec)) {
    ctx.addIssue({ code: "custom", path: [field], message });
  }
});

/**
 * What a Vertex AI deployment lacks or has too much of: it needs its project and location, and
 * one way to its token.
 */
function vertexProblems(
  spec: Partial<Record<typeof VERTEX_PLACE[number] | typeof VERTEX_CREDENTIALS[number], string>>,
): Array<[string, string]> {
  const vertex = [...VERTEX_PLACE, ...VERTEX_CREDENTIALS];
  if (vertex.every((field) => spec[field] === undefined)) return [];
  const problems: Array<[string, string]> = VERTEX_PLACE
    .filter((field) => spec[field] === undefined)
    .map((field) => [field, `is needed on Vertex AI, with ${VERTEX_PLACE.join(" and ")}`]);
  const credentials = VERTEX_CREDENTIALS.filter((field) => spec[field] !== undefined);
  if (credentials.length === 0) {
    problems.push([
      VERTEX_CREDENTIALS[0],
      `is needed, or ${VERTEX_CREDENTIALS[1]}: Vertex AI takes a token, not a key`,
    ]);
  }
  if (credentials.length > 1) {
    problems.push([
      VERTEX_CREDENTIALS[1],
      `cannot be set with ${VERTEX_CREDENTIALS[0]}: a deployment has one way to its token`,
    ]);
  }
  return problems;
}

/** One deployment of a public model, named (by `MODEL_ROUTES` or by default). */
export type DeploymentSpec = z.output<typeof deploymentSpecSchema> & { name: string };

const routeObject = z.object({
  strategy: z.enum(ROUTING_STRATEGIES, {
    errorMap: () => ({ message: `must be one of ${ROUTING_STRATEGIES.join(", ")}` }),
  }).default("weighted"),
  deployments: z.array(deploymentSpecSchema).min(1, "must list at least one deployment"),
}).strict();

/** A public model's deployments and how to choose among them. */
export type RouteSpec = Omit<z.output<typeof routeObject>, "deployments"> & {
  deployments: DeploymentSpec[];
};

/**
 * `MODEL_ROUTES`: public model name to its route; a bare array means `weighted`. Every
 * deployment comes out named: names given must be unique across all routes (each deployment has
 * its own circuit, which its name tells apart in metrics), the others get
 * {@linkcode defaultDeploymentName}, made unique with a `-2`, `-3`, ... suffix in the order given.
 */
export const modelRoutesSchema = z.record(
  z.string().min(1),
  z.preprocess((value) => Array.isArray(value) ? { deployments: value } : value, routeObject),
).refine((routes) => Object.keys(routes).length > 0, "must name at least one model")
  .superRefine((routes, ctx) => {
    const seen = new Map<string, string>();
    for (const [model, route] of Object.entries(routes)) {
      route.deployments.forEach((deployment, index) => {
        if (deployment.name === undefined) return;
        const first = seen.get(deployment.name);
        if (first === undefined) {
          seen.set(deployment.name, `${model}.deployments.${index}`);
          return;
        }
        ctx.addIssue({
          code: "custom",
          path: [model, "deployments", index, "name"],
          message: `repeats the name '${deployment.name}' of '${first}' (names must be unique)`,
        });
      });
    }
  })
  .transform(nameDeployments);

/** The shape `MODEL_ROUTES` accepts, for error messages. */
export const MODEL_ROUTES_SHAPE =
  '{"gpt-4o": {"strategy": "weighted", "deployments": [{"name": "openai-eu", "provider": "openai", "model": "gpt-4o", "base_url": "https://...", "api_key_env": "KEY_VAR", "weight": 1}]}}';

/**
 * The name of a deployment that sets none: its provider, upstream model and the host of its
 * `base_url` (when it sets one), joined by `:`, with characters unsafe in a name replaced by `_`
 * and cut to the longest name allowed (128 characters).
 */
export function defaultDeploymentName(
  spec: { provider: string; model?: string; base_url?: string },
): string {
  const parts = [spec.provider, spec.model, spec.base_url && new URL(spec.base_url).host];
  return parts.filter((part) => part).join(":").replace(UNSAFE_NAME_CHARS, "_")
    .slice(0, DEPLOYMENT_NAME_MAX);
}

function nameDeployments(
  routes: Record<string, z.output<typeof routeObject>>,
): Record<string, RouteSpec> {
  const taken = new Set<string>();
  for (const route of Object.values(routes)) {
    for (const { name } of route.deployments) if (name !== undefined) taken.add(name);
  }
  const unique = (base: string) => {
    let name = base;
    for (let n = 2; taken.has(name); n++) {
      name = `${base.slice(0, DEPLOYMENT_NAME_MAX - `-${n}`.length)}-${n}`;
    }
    taken.add(name);
    return name;
  };
  return Object.fromEntries(
    Object.entries(routes).map(([model, route]) => [model, {
      ...route,
      deployments: route.deployments.map((deployment) => ({
        ...deployment,
        name: deployment.name ?? unique(defaultDeploymentName(deployment)),
      })),
    }]),
  );
}

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
