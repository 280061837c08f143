import { z } from "zod";
import { isTimeZone, MAX_LIMIT_PER_MINUTE } from "../core/mod.ts";
import {
  AWS_REGION_PATTERN,
  MODEL_ROUTES_SHAPE,
  modelRoutesSchema,
  routeProblems,
  type RouteSpec,
} from "./routes.ts";
import { parseDuration, parseSize } from "./units.ts";

const LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;

/** A log level as the seed names them. */
export type LogLevelName = typeof LOG_LEVELS[number];

const boolean = z.string().trim().toLowerCase().pipe(
  z.enum(["true", "false", "1", "0", "yes", "no"], {
    errorMap: () => ({ message: "accepts true or false" }),
  }),
).transform((value) => value === "true" || value === "1" || value === "yes");

function integer(min: number, max: number) {
  return z.string().trim().regex(/^\d+$/, `accepts a whole number from ${min} to ${max}`)
    .transform(Number).pipe(
      z.number().int().min(min, `accepts a whole number from ${min} to ${max}`).max(
        max,
        `accepts a whole number from ${min} to ${max}`,
      ),
    );
}

const url = (schemes: string[]) =>
  z.string().trim().url("accepts a URL").refine(
    (value) => schemes.includes(new URL(value).protocol),
    `accepts a URL with scheme ${schemes.map((s) => s.replace(":", "://")).join(" or ")}`,
  );

const size = z.string().transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: "accepts a size such as '500 MB' or '1 GiB'" });
    return z.NEVER;
  }
  return bytes;
});

const duration = z.string().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: "accepts a duration such as '10 days' or '12 hours'" });
    return z.NEVER;
  }
  return ms;
});

const masterKey = z.string().trim().refine((value) => {
  try {
    return atob(value).length === 32;
  } catch {
    return false;
  }
}, "accepts 32 bytes in base64 (make one with: openssl rand -base64 32)");

/** A model's price in dollars per million tokens, as `MODEL_PRICES` gives it. */
export const modelPriceSchema = z.object({
  input_per_1m_tokens: z.number().finite().min(0).max(1_000_000),
  output_per_1m_tokens: z.number().finite().min(0).max(1_000_000),
  /** Input read from a prompt cache; the input's price when unset. */
  cache_read_per_1m_tokens: z.number().finite().min(0).max(1_000_000).optional(),
  /** Input written to a prompt cache; the input's price when unset. */
  cache_write_per_1m_tokens: z.number().finite().min(0).max(1_000_000).optional(),
}).strict();

/** A model's price in dollars per million tokens. */
export type ModelPrice = z.infer<typeof modelPriceSchema>;

function jsonOf<T extends z.ZodTypeAny>(schema: T, accepts: string) {
  return z.string().transform((value, ctx): z.output<T> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      ctx.addIssue({ code: "custom", message: `accepts JSON: ${accepts}` });
      return z.NEVER;
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue.path.length > 0 ? ` at '${issue.path.join(".")}'` : "";
      ctx.addIssue({ code: "custom", message: `${issue.message}${where}; accepts ${accepts}` });
      return z.NEVER;
    }
    return result.data;
  });
}

const PRICE_SHAPE = '{"input_per_1m_tokens": 2.5, "output_per_1m_tokens": 10}';

const usdAmount = z.string().trim().regex(/^\d+(\.\d{1,6})?$/, "accepts dollars such as 0.5")
  .transform(Number);

const modelList = z.string().transform((value) =>
  value.split(",").map((name) => name.trim()).filter((name) => name.length > 0)
);

const awsRegion = z.string().regex(AWS_REGION_PATTERN, "must be an AWS region such as us-east-1");

/**
 * Every environment variable the gateway reads, with its default and a one-line description.
 * The README's table is checked against this list by a test.
 */
export const ENVIRONMENT = {
  PORT: { schema: integer(0, 65535), default: "8000", doc: "TCP port to listen on." },
  HOST: { schema: z.string().trim().min(1), default: "127.0.0.1", doc: "Address to bind." },
  DATABASE_URL: {
    schema: url(["postgres:", "postgresql:"]).optional(),
    default: undefined,
    doc: "PostgreSQL URL. Unset: SQLite under `DATA_DIR`.",
  },
  DATA_DIR: {
    schema: z.string().trim().min(1),
    default: "./data",
    doc: "Folder for the embedded SQLite database.",
  },
  SQLITE_WRITER: {
    schema: z.enum(["auto", "worker", "event-loop"], {
      errorMap: () => ({ message: "accepts auto, worker or event-loop" }),
    }),
    default: "auto",
    doc:
      "Where the embedded database's background writes (settlements, audit records, stored responses) run: `worker`, a thread of their own with its own connection; `event-loop`, the thread that serves requests; `auto`, a worker when the process may use more than one CPU (its affinity, as `taskset` or a cpuset sets it) and the event loop on one, where a worker would only take turns with it.",
  },
  REDIS_URL: {
    schema: url(["redis:", "rediss:"]).optional(),
    default: undefined,
    doc: "Redis URL, checked by `/ready`. Unset: Redis is not used.",
  },
  ADMIN_TOKEN: {
    schema: z.string().min(16, "accepts a token of at least 16 characters").optional(),
    default: undefined,
    doc: "Bearer token of the internal API. Unset: the internal API is off.",
  },
  REDIS_KEY_PREFIX: {
    schema: z.string().regex(/^[A-Za-z0-9:_-]{0,32}$/, "accepts up to 32 of A-Z a-z 0-9 : _ -"),
    default: "gw:",
    doc: "Prefix of every Redis key the gateway writes.",
  },
  REDIS_TIMEOUT_MS: {
    schema: integer(10, 60_000),
    default: "250",
    doc: "Longest wait for one Redis call; past it the call counts as failed (never a hang).",
  },
  SIGNING_MASTER_KEY: {
    schema: masterKey.optional(),
    default: undefined,
    doc: "Base64 of 32 bytes that seals signing secrets at rest. Unset: no signed keys.",
  },
  SIGNATURE_WINDOW_SECONDS: {
    schema: integer(1, 3600),
    default: "300",
    doc: "How far a signed request's `X-Timestamp` may be from the gateway's clock.",
  },
  OPENAI_BASE_URL: {
    schema: url(["http:", "https:"]).optional(),
    default: undefined,
    doc:
      "OpenAI-compatible upstream, e.g. `https://api.openai.com/v1`. Unset: the `mock` provider.",
  },
  OPENAI_API_KEY: {
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: "Key the gateway sends to the OpenAI-compatible upstream.",
  },
  OPENAI_MODELS: {
    schema: modelList.optional(),
    default: undefined,
    doc: "Comma-separated models served by the upstream. Unset: every model is passed on.",
  },
  ANTHROPIC_BASE_URL: {
    schema: url(["http:", "https:"]).optional(),
    default: undefined,
    doc: "Base URL of `anthropic` deployments in `MODEL_ROUTES` that set no `base_url`.",
  },
  ANTHROPIC_API_KEY: {
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: "Key of `anthropic` deployments in `MODEL_ROUTES` that set no `api_key_env`.",
  },
  AZURE_OPENAI_ENDPOINT: {
    schema: url(["https:", "http:"]).optional(),
    default: undefined,
    doc:
      "Endpoint of `azure` deployments in `MODEL_ROUTES` that set no `base_url`, e.g. `https://my-resource.openai.azure.com`.",
  },
  AZURE_OPENAI_API_KEY: {
    schema: z.string().min(1).optional(),
    default: undefined,
    doc:
      "Key (`api-key`) of `azure` deployments in `MODEL_ROUTES` that set no `api_key_env` or `azure_ad_token_file`.",
  },
  GEMINI_API_KEY: {
    schema: z.string().min(1).optional(),
    default: undefined,
    doc:
      "Google AI Studio key (`x-goog-api-key`) of `gemini` deployments in `MODEL_ROUTES` that set no `api_key_env` or `vertex_project`.",
  },
  AWS_ACCESS_KEY_ID: {
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: "AWS access key id that signs the calls of `bedrock` deployments in `MODEL_ROUTES`.",
  },
  AWS_SECRET_ACCESS_KEY: {
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: "AWS secret access key that signs the calls of `bedrock` deployments (SigV4).",
  },
  AWS_SESSION_TOKEN: {
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: "Session token of temporary AWS credentials (an assumed role, SSO), sent with them.",
  },
  AWS_REGION: {
    schema: awsRegion.optional(),
    default: undefined,
    doc: "Region of `bedrock` deployments that set no `region`, e.g. `us-east-1`.",
  },
  AWS_DEFAULT_REGION: {
    schema: awsRegion.optional(),
    default: undefined,
    doc: "Region of `bedrock` deployments when neither their `region` nor `AWS_REGION` is set.",
  },
  MODEL_ROUTES: {
    schema: jsonOf(modelRoutesSchema, MODEL_ROUTES_SHAPE).optional(),
    default: undefined,
    doc:
      "JSON: public model name to its deployments (each named, uniquely) and strategy (see Routing). Unset: one upstream.",
  },
  MOCK_MODELS: {
    schema: modelList,
    default: "mock-gpt,gpt-4o-mini,gpt-4o",
    doc: "Comma-separated models the built-in `mock` provider answers.",
  },
  RATE_LIMIT_KEY_RPM: {
    schema: integer(1, MAX_LIMIT_PER_MINUTE).optional(),
    default: undefined,
    doc: "Requests per minute of a key that sets none. Unset: no default limit.",
  },
  RATE_LIMIT_KEY_TPM: {
    schema: integer(1, MAX_LIMIT_PER_MINUTE).optional(),
    default: undefined,
    doc: "Tokens per minute of a key that sets none. Unset: no default limit.",
  },
  RATE_LIMIT_TENANT_RPM: {
    schema: integer(1, MAX_LIMIT_PER_MINUTE).optional(),
    default: undefined,
    doc: "Requests per minute of a tenant that sets none. Unset: no default limit.",
  },
  RATE_LIMIT_TENANT_TPM: {
    schema: integer(1, MAX_LIMIT_PER_MINUTE).optional(),
    default: undefined,
    doc: "Tokens per minute of a tenant that sets none. Unset: no default limit.",
  },
  RATE_LIMIT_REDIS_FAILURE: {
    schema: z.enum(["fail-open", "fail-closed"], {
      errorMap: () => ({ message: "accepts fail-open or fail-closed" }),
    }),
    default: "fail-open",
    doc: "When Redis fails: limit in memory per instance (open) or answer 503 (closed).",
  },
  DEFAULT_MAX_TOKENS: {
    schema: integer(1, 10_000_000),
    default: "1024",
    doc: "Completion tokens assumed before the call when a request sets no `max_tokens`.",
  },
  MODEL_PRICES: {
    schema: jsonOf(z.record(z.string().min(1), modelPriceSchema), `{"model": ${PRICE_SHAPE}}`),
    default: "{}",
    doc:
      "JSON: model name to its price in USD per million input and output tokens, and optionally of input read from (`cache_read_per_1m_tokens`) and written to (`cache_write_per_1m_tokens`) a prompt cache.",
  },
  MODEL_PRICE_DEFAULT: {
    schema: jsonOf(modelPriceSchema, PRICE_SHAPE),
    default: '{"input_per_1m_tokens":10,"output_per_1m_tokens":30}',
    doc: "JSON: the price of models missing from `MODEL_PRICES`.",
  },
  QUOTA_MARGIN_USD: {
    schema: usdAmount,
    default: "0",
    doc: "How far below zero concurrent requests may take a balance or budget.",
  },
  QUOTA_HOLDS: {
    schema: z.enum(["memory", "store", "redis"], {
      errorMap: () => ({ message: "accepts memory, store or redis" }),
    }).optional(),
    default: undefined,
    doc:
      "Where reservations are held: `memory` (this process; embedded SQLite only), `store` (a database commit per request; serves through a Redis outage) or `redis` (a Lua script; needs REDIS_URL, refuses paid requests while Redis is down). Unset: `memory` on SQLite, `store` on PostgreSQL.",
  },
  RESERVATION_TTL_MS: {
    schema: integer(1000, 86_400_000),
    default: "900000",
    doc: "After this, a reservation whose request died is returned by the sweeper.",
  },
  BUDGET_TIME_ZONE: {
    schema: z.string().trim().refine(
      isTimeZone,
      "accepts an IANA time zone such as UTC or Europe/Berlin",
    ),
    default: "UTC",
    doc: "Time zone whose calendar days, weeks (from Monday) and months budget periods follow.",
  },
  BUDGET_METRIC_TOP: {
    schema: integer(0, 1000),
    default: "20",
    doc: "How many budgets, the most used first, `gateway_budget_used_ratio` reports.",
  },
  GATEWAY_TEST_CLOCK_FILE: {
    schema: z.string().trim().min(1).optional(),
    default: undefined,
    doc:
      "Tests only: a file holding milliseconds added to the clock budget periods follow, read at every reading. Unset: the system clock.",
  },
  IDEMPOTENCY_RETENTION_MS: {
    schema: integer(60_000, 604_800_000),
    default: "86400000",
    doc: "How long the answer of a request with an `Idempotency-Key` is kept for its retries.",
  },
  IDEMPOTENCY_WAIT_MS: {
    schema: integer(0, 600_000),
    default: "60000",
    doc:
      "How long a retry waits for the first request with its key to finish; then 409 with `Retry-After`.",
  },
  IDEMPOTENCY_LEASE_MS: {
    schema: integer(1000, 3_600_000),
    default: "30000",
    doc:
      "Hold on a key while its request runs, renewed at a third of it; a dead process frees the key after it.",
  },
  IDEMPOTENCY_MAX_ANSWER_BYTES: {
    schema: integer(1024, 67_108_864),
    default: "1048576",
    doc: "Largest answer recorded for replays; a larger one is not kept and its retries get 409.",
  },
  RESPONSES_RETENTION: {
    schema: duration.pipe(
      z.number().min(1000, "accepts a duration of at least 1 second, such as '30 days'"),
    ),
    default: "30 days",
    doc:
      "How long stored Responses API responses (`store`, on by default) are kept; older ones are deleted.",
  },
  RUN_MODE: {
    schema: z.enum(["all", "api", "worker"], {
      errorMap: () => ({ message: "accepts all, api or worker" }),
    }),
    default: "all",
    doc: "`all`: API and workers; `api`: API only; `worker`: workers only (both need Redis).",
  },
  QUEUE_WORKERS: {
    schema: jsonOf(
      z.object({
        default: z.number().int().min(0).max(64).optional(),
        billing: z.number().int().min(0).max(64).optional(),
        internal: z.number().int().min(0).max(64).optional(),
        external: z.number().int().min(0).max(64).optional(),
      }).strict(),
      '{"default": 1, "billing": 2, "internal": 1, "external": 1}',
    ),
    default: '{"default":1,"billing":8,"internal":1,"external":1}',
    doc: "JSON: workers per queue in this process (0 for none).",
  },
  QUEUE_MAX_ATTEMPTS: {
    schema: integer(1, 100),
    default: "8",
    doc: "Runs of a job before it goes to the dead-letter list.",
  },
  QUEUE_HEARTBEAT_TTL_MS: {
    schema: integer(1000, 3_600_000),
    default: "30000",
    doc: "A worker silent this long is dead: the reaper hands its jobs out again.",
  },
  QUEUE_SPOOL_DIR: {
    schema: z.string().trim().min(1).optional(),
    default: undefined,
    doc: "Folder of the on-disk job spool, one per process. Unset: `queue` under `DATA_DIR`.",
  },
  QUEUE_SPOOL_SYNC: {
    schema: z.enum(["write", "fsync"], {
      errorMap: () => ({ message: "accepts write or fsync" }),
    }),
    default: "write",
    doc:
      "When a job in the on-disk spool counts as kept: `write` once the OS has it (survives the process crashing; fsync'd within about 10 ms), `fsync` once it is on the disk (survives the machine crashing too; one fsync more on every answer in embedded mode).",
  },
  UPSTREAM_HTTP_CLIENT: {
    schema: z.enum(["native", "fetch"], {
      errorMap: () => ({ message: "accepts native or fetch" }),
    }),
    default: "native",
    doc: "Upstream HTTP client: the gateway's HTTP/1.1 pool (`native`) or Deno's `fetch`.",
  },
  UPSTREAM_TIMEOUT_MS: {
    schema: integer(1, 3_600_000),
    default: "600000",
    doc: "Total time allowed for one upstream attempt, stream included.",
  },
  UPSTREAM_CONNECT_TIMEOUT_MS: {
    schema: integer(1, 3_600_000),
    default: "10000",
    doc: "Time allowed to open a connection to an upstream, TLS included.",
  },
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: {
    schema: integer(1, 3_600_000).optional(),
    default: undefined,
    doc: "Time allowed from sending a request to the upstream's answer head. Unset: the total.",
  },
  UPSTREAM_IDLE_TIMEOUT_MS: {
    schema: integer(1, 3_600_000),
    default: "60000",
    doc: "Longest wait for the next chunk of an upstream stream.",
  },
  UPSTREAM_MAX_ATTEMPTS: {
    schema: integer(1, 20),
    default: "3",
    doc: "Upstream attempts per request, first one, retries and fallbacks included.",
  },
  UPSTREAM_RETRY_DEADLINE_MS: {
    schema: integer(0, 3_600_000),
    default: "30000",
    doc: "No retry or fallback starts later than this after a request's first attempt.",
  },
  UPSTREAM_RETRY_BACKOFF_MS: {
    schema: integer(0, 600_000),
    default: "100",
    doc: "First backoff before retrying a deployment; doubles each time, with jitter.",
  },
  UPSTREAM_RETRY_BACKOFF_MAX_MS: {
    schema: integer(0, 600_000),
    default: "2000",
    doc: "Longest backoff before retrying a deployment.",
  },
  UPSTREAM_RETRY_AFTER_MAX_MS: {
    schema: integer(0, 600_000),
    default: "5000",
    doc: "Longest upstream `Retry-After` honoured; a longer one moves on to another deployment.",
  },
  CIRCUIT_FAILURE_RATIO: {
    schema: z.string().trim().regex(/^(0(\.\d+)?|1(\.0+)?)$/, "accepts a ratio from 0 to 1")
      .transform(Number).pipe(z.number().gt(0, "accepts a ratio above 0, up to 1")),
    default: "0.5",
    doc: "Failed share of a deployment's calls in the window that opens its circuit.",
  },
  CIRCUIT_MIN_CALLS: {
    schema: integer(1, 1_000_000),
    default: "10",
    doc: "Calls a deployment needs in the window before its circuit may open.",
  },
  CIRCUIT_WINDOW_MS: {
    schema: integer(100, 3_600_000),
    default: "30000",
    doc: "Window of recent calls the failure ratio is taken over.",
  },
  CIRCUIT_COOLDOWN_MS: {
    schema: integer(1, 3_600_000),
    default: "15000",
    doc: "How long an open circuit refuses calls before letting probes through (half-open).",
  },
  CIRCUIT_HALF_OPEN_PROBES: {
    schema: integer(1, 1000),
    default: "1",
    doc: "Probe calls let through at once when half-open; all must succeed to close it.",
  },
  MAX_BODY_BYTES: {
    schema: integer(1, 1_073_741_824),
    default: "4194304",
    doc: "Largest request body accepted (413 above it).",
  },
  KEY_CACHE_TTL_MS: {
    schema: integer(0, 300_000),
    default: "5000",
    doc: "How long an API key lookup is cached; a revoked key stops working within it.",
  },
  SHUTDOWN_TIMEOUT_MS: {
    schema: integer(0, 3_600_000),
    default: "30000",
    doc: "How long requests in flight may finish after SIGTERM or SIGINT.",
  },
  LOG_LEVEL: {
    schema: z.string().trim().toUpperCase().pipe(
      z.enum(LOG_LEVELS, {
        errorMap: () => ({ message: `accepts one of ${LOG_LEVELS.join(", ")}` }),
      }),
    ),
    default: "INFO",
    doc: "Lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL.",
  },
  LOG_JSON_FORMAT: {
    schema: boolean,
    default: "true",
    doc: "JSON lines (true) or the seed's text format (false).",
  },
  LOG_FILE_PATH: {
    schema: z.string().trim().min(1).optional(),
    default: undefined,
    doc: "Also write logs to this file. Unset: standard output only.",
  },
  LOG_ROTATION: {
    schema: size,
    default: "500 MB",
    doc: "Rotate the log file when it reaches this size.",
  },
  LOG_RETENTION: {
    schema: duration,
    default: "10 days",
    doc: "Delete rotated log files older than this.",
  },
} as const;

type Environment = typeof ENVIRONMENT;

/** The validated configuration, keyed by environment variable name. */
export type Config = { [K in keyof Environment]: z.output<Environment[K]["schema"]> };

/** Raised when the environment holds an invalid value; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Validates `env` (a copy of the environment) against the schema and fills in the defaults. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ENVIRONMENT)) {
    const given = env[name];
    const raw = given === undefined || given === "" ? spec.default : given;
    const parsed = (spec.schema as z.ZodType<unknown, z.ZodTypeDef, unknown>).safeParse(raw);
    if (parsed.success) {
      config[name] = parsed.data;
    } else {
      // Secrets, and JSON too long to repeat (its message names the place at fault).
      const shown = name.includes("TOKEN") || name.includes("KEY") || name.includes("URL") ||
          name === "MODEL_ROUTES"
        ? ""
        : ` (got ${JSON.stringify(raw)})`;
      problems.push(`${name}: ${parsed.error.issues[0].message}${shown}`);
    }
  }
  if (config.RUN_MODE !== undefined && config.RUN_MODE !== "all" && !config.REDIS_URL) {
    problems.push(
      `RUN_MODE: ${config.RUN_MODE} splits API and workers over processes, which share jobs only through Redis: set REDIS_URL`,
    );
  }
  if (config.QUOTA_HOLDS === "redis" && !config.REDIS_URL) {
    problems.push("QUOTA_HOLDS: redis holds reservations in Redis: set REDIS_URL");
  }
  if (config.QUOTA_HOLDS === "memory" && config.DATABASE_URL) {
    problems.push(
      "QUOTA_HOLDS: memory holds reservations in one process, which instances sharing DATABASE_URL would each spend: use store or redis",
    );
  }
  if (config.MODEL_ROUTES !== undefined) {
    problems.push(...routeProblems(config.MODEL_ROUTES as Record<string, RouteSpec>, env));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}
