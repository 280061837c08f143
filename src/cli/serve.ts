/**
 * @module
 * `gateway` with no subcommand: reads the configuration, builds every component once, serves
 * HTTP, and shuts down gracefully on SIGTERM or SIGINT.
 */
import {
  ApiKeyAuthenticator,
  MemoryNonceStore,
  type NonceStore,
  RedisNonceStore,
  RequestSignatures,
  SecretBox,
  SignatureVerifier,
} from "../auth/mod.ts";
import { type Config, ConfigError, loadConfig } from "../config/mod.ts";
import { createApp } from "../http/mod.ts";
import { addKnownSecrets, getLogger, setupLogging } from "../observability/logging.ts";
import { GatewayMetrics } from "../observability/metrics.ts";
import { RecentUpstreamFailures } from "../observability/upstream_failures.ts";
import { join } from "node:path";
import { AuditWriter } from "../audit/mod.ts";
import {
  Billing,
  type Funds,
  MemoryFunds,
  Metering,
  PriceList,
  Quota,
  RedisFunds,
  StoreFunds,
} from "../billing/mod.ts";
import { BudgetCalendar, usdToMicros } from "../core/mod.ts";
import {
  Idempotency,
  type IdempotencyRecords,
  RedisIdempotencyRecords,
  StoreIdempotencyRecords,
} from "../idempotency/mod.ts";
import { Admission, ModelPipeline } from "../pipeline/mod.ts";
import { type JobQueue, MemoryJobQueue, RedisJobQueue } from "../queue/mod.ts";
import {
  FailoverRateLimiter,
  MemoryRateLimiter,
  type RateLimiter,
  RedisRateLimiter,
} from "../limits/mod.ts";
import {
  createHttp1Fetch,
  PRESET_KEY_VARIABLES,
  PROVIDERS,
  type UpstreamFetch,
} from "../providers/mod.ts";
import { closeRedis, connectRedis, pingRedis, type RedisConnection } from "../redis/mod.ts";
import {
  buildRouter,
  Deadlines,
  type DeploymentTimeouts,
  type ModelRouter,
  type ProviderSpec,
  RetryPolicy,
  UpstreamCaller,
  watchedFetch,
} from "../routing/mod.ts";
import { ResponsesRetention, ResponsesService } from "../responses/mod.ts";
import { StatusService } from "../status/mod.ts";
import {
  type BackgroundWrites,
  lockFolder,
  openStore,
  SqliteWriter,
  type Store,
  usesSqliteWorker,
} from "../store/mod.ts";
import { bootstrapFirstKey, TenantService } from "../tenants/mod.ts";

const logger = getLogger("gateway.main");

// A stray rejection is a bug to log, never a reason to drop every request in flight.
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  logger.error("unhandled_rejection", { error: event.reason });
});

/**
 * Runs the gateway until a signal and its drain; resolves with the exit code. `entry` is the
 * program's entry module, which the SQLite writer's worker runs too.
 */
export async function serveGateway(entry: URL): Promise<number> {
  let config: Config;
  const env = Deno.env.toObject();
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`gateway: ${error.message}`);
    return 2;
  }
  addKnownSecrets([
    config.ADMIN_TOKEN,
    config.OPENAI_API_KEY,
    config.ANTHROPIC_API_KEY,
    config.AZURE_OPENAI_API_KEY,
    config.AWS_SECRET_ACCESS_KEY,
    config.AWS_SESSION_TOKEN,
    config.GEMINI_API_KEY,
    config.SIGNING_MASTER_KEY,
    ...routeKeys(config, env),
  ]);
  const logging = await setupLogging({
    level: config.LOG_LEVEL,
    json: config.LOG_JSON_FORMAT,
    filePath: config.LOG_FILE_PATH,
    rotationBytes: config.LOG_ROTATION,
    retentionMs: config.LOG_RETENTION,
  });
  // One process per folder: the embedded database and the job journal are this process's alone.
  const lockedFolders = config.DATABASE_URL
    ? [spoolDir(config)]
    : [config.DATA_DIR, spoolDir(config)];
  // Held until main returns, after the store and the queue have let go of the folders.
  using locks = new DisposableStack();
  try {
    for (const folder of lockedFolders) locks.use(await lockFolder(folder));
  } catch (error) {
    logger.critical("application_startup_failed", { reason: "data_dir", error });
    await logging.dispose();
    return 1;
  }
  let store: Store;
  try {
    store = await openStore({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  } catch (error) {
    logger.critical("application_startup_failed", { reason: "database", error });
    await logging.dispose();
    return 1;
  }
  const redis = config.REDIS_URL
    ? await connectRedis({ url: config.REDIS_URL, logger: getLogger("gateway.redis") })
    : undefined;
  // Settlements and audit records go through a worker's connection, off the event loop, where
  // another CPU can take them.
  const writer = store.kind === "sqlite" && usesSqliteWorker(config.SQLITE_WRITER)
    ? new SqliteWriter({ store, dataDir: config.DATA_DIR, entry })
    : undefined;
  try {
    await writer?.open();
  } catch (error) {
    logger.critical("application_startup_failed", { reason: "database", error });
    await writer?.close();
    await store.close();
    await logging.dispose();
    return 1;
  }
  let code: number;
  try {
    code = await serve(config, env, store, redis, writer ?? store);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`gateway: ${error.message}`);
    code = 2;
  }
  await writer?.close();
  await Promise.allSettled([store.close(), redis ? closeRedis(redis) : Promise.resolve()]);
  await logging.dispose();
  return code;
}

/** Everything the program builds on its opened dependencies, wired together once. */
interface Gateway {
  app: ReturnType<typeof createApp>;
  queue: JobQueue;
  audit: AuditWriter;
  tenants: TenantService;
  router: ModelRouter;
  startDraining(): void;
}

/**
 * Builds every component on the opened store and Redis; the workers' settlements and audit
 * records go to `writes` (the store itself, or its writer off the main thread).
 */
function buildGateway(
  config: Config,
  env: Record<string, string>,
  store: Store,
  redis: RedisConnection | undefined,
  writes: BackgroundWrites,
): Gateway {
  const metrics = new GatewayMetrics();
  // First, so that a deployment that cannot be built stops the start before anything runs.
  const deadlines = new Deadlines();
  const router = modelRouter(config, env, deadlines, metrics);
  metrics.watchDependencies({
    postgresPing: store.kind === "postgres" ? () => store.ping() : undefined,
    redisReady: redis ? () => redis.isReady : undefined,
  });
  const authenticator = new ApiKeyAuthenticator({ store, cacheTtlMs: config.KEY_CACHE_TTL_MS });
  const admission = new Admission({
    limiter: rateLimiter(config, redis),
    defaults: {
      keyRpm: config.RATE_LIMIT_KEY_RPM,
      keyTpm: config.RATE_LIMIT_KEY_TPM,
      tenantRpm: config.RATE_LIMIT_TENANT_RPM,
      tenantTpm: config.RATE_LIMIT_TENANT_TPM,
    },
    metrics,
    logger: getLogger("gateway.limits"),
  });
  const queue = jobQueue(config, redis, metrics);
  metrics.watchQueue(queue);
  const prices = new PriceList({
    prices: config.MODEL_PRICES,
    fallback: config.MODEL_PRICE_DEFAULT,
  });
  const funds = quotaFunds(config, store, redis);
  const calendar = new BudgetCalendar({
    timeZone: config.BUDGET_TIME_ZONE,
    now: budgetClock(config.GATEWAY_TEST_CLOCK_FILE),
  });
  const metering = new Metering({
    quota: new Quota({
      funds,
      prices,
      marginMicros: usdToMicros(config.QUOTA_MARGIN_USD),
      reservationTtlMs: config.RESERVATION_TTL_MS,
      logger: getLogger("gateway.billing"),
      calendar,
    }),
    billing: new Billing({
      queue,
      store: writes,
      funds,
      logger: getLogger("gateway.billing"),
      maxAttempts: config.QUEUE_MAX_ATTEMPTS,
      calendar,
    }),
    prices,
    logger: getLogger("gateway.billing"),
  });
  const audit = new AuditWriter({ queue, store: writes, logger: getLogger("gateway.audit") });
  // An API-only instance still runs the retry scheduler and the reaper, just no workers.
  queue.start(config.RUN_MODE === "api" ? {} : config.QUEUE_WORKERS);
  const failures = new RecentUpstreamFailures();
  const pipeline = new ModelPipeline({
    router,
    upstream: new UpstreamCaller({
      router,
      policy: new RetryPolicy({
        maxAttempts: config.UPSTREAM_MAX_ATTEMPTS,
        deadlineMs: config.UPSTREAM_RETRY_DEADLINE_MS,
        backoffMs: config.UPSTREAM_RETRY_BACKOFF_MS,
        backoffMaxMs: config.UPSTREAM_RETRY_BACKOFF_MAX_MS,
        retryAfterMaxMs: config.UPSTREAM_RETRY_AFTER_MAX_MS,
      }),
      deadlines,
      metrics,
      logger: getLogger("gateway.pipeline"),
      failures,
    }),
    metering,
    admission,
    defaultMaxTokens: config.DEFAULT_MAX_TOKENS,
  });
  const status = new StatusService({
    queue,
    store,
    failures,
    circuits: router,
    logger: getLogger("gateway.status"),
    calendar,
  });
  if (config.BUDGET_METRIC_TOP > 0) {
    metrics.watchBudgets(() => status.budgets(config.BUDGET_METRIC_TOP));
  }
  const box = config.SIGNING_MASTER_KEY
    ? SecretBox.fromBase64(config.SIGNING_MASTER_KEY)
    : undefined;
  const nonces: NonceStore = redis
    ? new RedisNonceStore({
      redis,
      prefix: config.REDIS_KEY_PREFIX,
      timeoutMs: config.REDIS_TIMEOUT_MS,
    })
    : new MemoryNonceStore();
  const signatures = new RequestSignatures({
    verifier: new SignatureVerifier({ nonces, windowSeconds: config.SIGNATURE_WINDOW_SECONDS }),
    box,
    logger: getLogger("gateway.auth"),
  });
  const tenants = new TenantService({
    store,
    funds,
    authenticator,
    box,
    audit,
    logger: getLogger("gateway.tenants"),
    calendar,
  });
  const idempotency = new Idempotency({
    records: idempotencyRecords(config, store, redis),
    leaseMs: config.IDEMPOTENCY_LEASE_MS,
    waitMs: config.IDEMPOTENCY_WAIT_MS,
    retentionMs: config.IDEMPOTENCY_RETENTION_MS,
    maxAnswerBytes: config.IDEMPOTENCY_MAX_ANSWER_BYTES,
    logger: getLogger("gateway.idempotency"),
    onOutcome: (outcome) => metrics.idempotencyRequests.inc({ outcome }),
  });
  let draining = false;
  const app = createApp({
    metrics,
    logger: getLogger("gateway.http"),
    authenticator,
    signatures,
    pipeline,
    responses: new ResponsesService({
      pipeline,
      // Saved with the workers' writes (off the main thread on SQLite), read from the store.
      store: {
        saveResponses: (responses) => writes.saveResponses(responses),
        getResponse: (tenantId, id) => store.getResponse(tenantId, id),
        deleteResponse: (tenantId, id) => store.deleteResponse(tenantId, id),
      },
      logger: getLogger("gateway.responses"),
      answerBeforeSaved: store.kind === "sqlite",
    }),
    idempotency,
    tenants,
    audit,
    queue,
    status,
    adminToken: config.ADMIN_TOKEN,
    maxBodyBytes: config.MAX_BODY_BYTES,
    readiness: {
      database: () => store.ping(),
      redis: redis ? () => pingRedis(redis) : undefined,
    },
    isDraining: () => draining,
    serveApi: config.RUN_MODE !== "worker",
  });
  return {
    app,
    queue,
    audit,
    tenants,
    router,
    startDraining: () => draining = true,
  };
}

/** Serves the gateway, and drains it on the first signal. */
async function serve(
  config: Config,
  env: Record<string, string>,
  store: Store,
  redis: RedisConnection | undefined,
  writes: BackgroundWrites,
) {
  const { app, queue, audit, tenants, router, startDraining } = buildGateway(
    config,
    env,
    store,
    redis,
    writes,
  );
  const providers = [...new Set(router.deployments.map((d) => d.provider.name))].join(", ");
  const models = router.modelNames;
  const sweepers = [sweepReservations(store, config.RESERVATION_TTL_MS)];
  // Held in Redis, expired keys go by their TTL; in the store, they are swept.
  if (!redis) sweepers.push(sweepIdempotencyKeys(store));
  sweepers.push(
    new ResponsesRetention({
      store,
      retentionMs: config.RESPONSES_RETENTION,
      logger: getLogger("gateway.responses"),
    }).start(),
  );
  // Only an embedded installation gets a first key; a shared database is set up by its operator.
  const firstKeyFile = store.kind === "sqlite"
    ? await bootstrapFirstKey({ tenants, dataDir: config.DATA_DIR })
    : undefined;

  const listening = Promise.withResolvers<Deno.NetAddr>();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: config.HOST,
      port: config.PORT,
      onListen: (address) => listening.resolve(address as Deno.NetAddr),
    }, app.fetch);
  } catch (error) {
    logger.critical("application_startup_failed", { reason: "listen", error });
    for (const sweeper of sweepers) clearInterval(sweeper);
    await queue.stop(1000);
    return 1;
  }
  const address = await listening.promise;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const url = `http://${host}:${address.port}`;
  logger.info("application_startup", {
    url,
    store: store.kind,
    redis: redis ? "configured" : "not_configured",
    provider: providers,
    pid: Deno.pid,
  });
  printBanner({ url, store, providers, firstKeyFile, model: models[0] });

  const signal = await firstSignal();
  startDraining();
  logger.info("application_draining", { signal, deadline_ms: config.SHUTDOWN_TIMEOUT_MS });
  const deadline = Promise.withResolvers<boolean>();
  const timer = setTimeout(() => deadline.resolve(false), config.SHUTDOWN_TIMEOUT_MS);
  const drained = await Promise.race([server.shutdown().then(() => true), deadline.promise]);
  clearTimeout(timer);
  for (const sweeper of sweepers) clearInterval(sweeper);
  await audit.flush();
  // Jobs not run by now stay durable (in Redis or the spool) for the next start.
  await queue.stop(Math.min(config.SHUTDOWN_TIMEOUT_MS, 10_000));
  logger.info("application_shutdown", { signal, drained });
  return 0;
}

/** Resolves with the first SIGTERM or SIGINT; a second one ends the process at once. */
function firstSignal(): Promise<string> {
  const first = Promise.withResolvers<string>();
  let received = false;
  for (const name of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(name, () => {
      if (received) {
        logger.warning("application_shutdown_forced", { signal: name });
        Deno.exit(1);
      }
      received = true;
      first.resolve(name);
    });
  }
  return first.promise;
}

/** The folder of the job queue's on-disk spool. */
function spoolDir(config: Config): string {
  return config.QUEUE_SPOOL_DIR ?? join(config.DATA_DIR, "queue");
}

/** The job queue: shared through Redis, or in memory backed by the on-disk spool. */
function jobQueue(
  config: Config,
  redis: RedisConnection | undefined,
  metrics: GatewayMetrics,
): JobQueue {
  const common = {
    spoolDir: spoolDir(config),
    spoolSync: config.QUEUE_SPOOL_SYNC,
    logger: getLogger("gateway.queue"),
    observer: metrics.queueObserver(),
    maxAttempts: config.QUEUE_MAX_ATTEMPTS,
  };
  return redis
    ? new RedisJobQueue({
      ...common,
      redis,
      prefix: config.REDIS_KEY_PREFIX,
      heartbeatTtlMs: config.QUEUE_HEARTBEAT_TTL_MS,
      redisTimeoutMs: Math.max(config.REDIS_TIMEOUT_MS, 500),
    })
    : new MemoryJobQueue(common);
}

/** Returns the reservations of requests that died, on every instance, now and then. */
function sweepReservations(store: Store, ttlMs: number): ReturnType<typeof setInterval> {
  const logger = getLogger("gateway.billing");
  const timer = setInterval(() => {
    store.releaseExpiredReservations(new Date()).then((released) => {
      if (released > 0) logger.warning("reservations_expired", { released });
    }).catch((error) => logger.warning("reservation_sweep_failed", { error }));
  }, Math.min(ttlMs, 60_000));
  Deno.unrefTimer(timer);
  return timer;
}

/** Deletes idempotency records and lapsed holds past their time, now and then. */
function sweepIdempotencyKeys(store: Store): ReturnType<typeof setInterval> {
  const logger = getLogger("gateway.idempotency");
  const timer = setInterval(() => {
    store.deleteExpiredIdempotencyKeys(new Date()).catch((error) =>
      logger.warning("idempotency_sweep_failed", { error })
    );
  }, 60_000);
  Deno.unrefTimer(timer);
  return timer;
}

/** Idempotency keys in Redis, shared by every instance, when there is one; else in the store. */
function idempotencyRecords(
  config: Config,
  store: Store,
  redis: RedisConnection | undefined,
): IdempotencyRecords {
  if (!redis) return new StoreIdempotencyRecords(store);
  return new RedisIdempotencyRecords({
    redis,
    prefix: config.REDIS_KEY_PREFIX,
    timeoutMs: config.REDIS_TIMEOUT_MS,
  });
}

/**
 * Where reservations are held: Redis (asked for, and there), the store, or, unless asked
 * otherwise, this process's memory when the store is the embedded SQLite file no other process
 * shares.
 */
function quotaFunds(config: Config, store: Store, redis: RedisConnection | undefined): Funds {
  const holds = config.QUOTA_HOLDS ?? (store.kind === "sqlite" ? "memory" : "store");
  if (holds === "redis" && redis) {
    return new RedisFunds({
      redis,
      prefix: config.REDIS_KEY_PREFIX,
      store,
      timeoutMs: config.REDIS_TIMEOUT_MS,
    });
  }
  if (holds === "memory") return new MemoryFunds({ store });
  return new StoreFunds(store, store.kind === "sqlite");
}

/**
 * The clock budget periods follow: the system's, or for tests the system's plus the milliseconds
 * the file holds at each reading, so that a test can move every instance into the next period.
 */
function budgetClock(file: string | undefined): () => number {
  if (file === undefined) return Date.now;
  return () => {
    const offset = Number(Deno.readTextFileSync(file).trim() || "0");
    if (!Number.isFinite(offset)) {
      throw new Error(`Cannot read the test clock as ${file} must hold milliseconds`);
    }
    return Date.now() + offset;
  };
}

/** Limits shared through Redis by every instance, or in memory for a single one. */
function rateLimiter(config: Config, redis: RedisConnection | undefined): RateLimiter {
  if (!redis) return new MemoryRateLimiter();
  return new FailoverRateLimiter({
    primary: new RedisRateLimiter({
      redis,
      prefix: config.REDIS_KEY_PREFIX,
      timeoutMs: config.REDIS_TIMEOUT_MS,
    }),
    fallback: new MemoryRateLimiter(),
    policy: config.RATE_LIMIT_REDIS_FAILURE,
    logger: getLogger("gateway.limits"),
  });
}

/**
 * The routes of `MODEL_ROUTES`, or the foundation's one upstream (`OPENAI_BASE_URL`, else the
 * offline `mock`), each deployment's provider built by the registry with its own timeouts.
 */
function modelRouter(
  config: Config,
  env: Record<string, string>,
  deadlines: Deadlines,
  metrics: GatewayMetrics,
): ModelRouter {
  // Deployments that set none take their provider's base URL and key from the environment.
  const providerDefaults: Record<string, { baseUrl?: string; apiKey?: string }> = {
    openai: { baseUrl: config.OPENAI_BASE_URL, apiKey: config.OPENAI_API_KEY },
    anthropic: { baseUrl: config.ANTHROPIC_BASE_URL, apiKey: config.ANTHROPIC_API_KEY },
    azure: { baseUrl: config.AZURE_OPENAI_ENDPOINT, apiKey: config.AZURE_OPENAI_API_KEY },
    gemini: { apiKey: config.GEMINI_API_KEY },
    ...Object.fromEntries(
      Object.entries(PRESET_KEY_VARIABLES).map((
        [name, variable],
      ) => [name, { apiKey: env[variable] }]),
    ),
  };
  const aws = {
    accessKeyId: config.AWS_ACCESS_KEY_ID,
    secretAccessKey: config.AWS_SECRET_ACCESS_KEY,
    sessionToken: config.AWS_SESSION_TOKEN,
    region: config.AWS_REGION ?? config.AWS_DEFAULT_REGION,
  };
  const clients = new Map<number, UpstreamFetch>();
  const createProvider = (spec: ProviderSpec, timeouts: DeploymentTimeouts) => {
    const factory = PROVIDERS[spec.provider];
    if (factory === undefined) {
      throw new Error(
        `names the provider '${spec.provider}', which does not exist; accepts ${
          Object.keys(PROVIDERS).join(", ")
        }`,
      );
    }
    const defaults = providerDefaults[spec.provider] ?? {};
    let client = clients.get(timeouts.connectMs);
    if (client === undefined) {
      client = upstreamFetch(config, timeouts.connectMs);
      clients.set(timeouts.connectMs, client);
    }
    return factory({
      baseUrl: spec.base_url ?? defaults.baseUrl,
      apiKey: spec.api_key_env ? env[spec.api_key_env] : defaults.apiKey,
      fetch: watchedFetch(client, { deadlines, timeouts }),
      defaultMaxTokens: config.DEFAULT_MAX_TOKENS,
      mockModels: config.MOCK_MODELS,
      azureDeployment: spec.azure_deployment,
      apiVersion: spec.api_version,
      tokenFile: spec.azure_ad_token_file ?? spec.vertex_token_file,
      vertexProject: spec.vertex_project,
      vertexLocation: spec.vertex_location,
      vertexCredentialsFile: spec.vertex_credentials_file,
      api: spec.api,
      region: spec.region,
      aws,
    });
  };
  return buildRouter({
    routes: config.MODEL_ROUTES,
    single: config.OPENAI_BASE_URL
      ? { provider: "openai", baseUrl: config.OPENAI_BASE_URL, models: config.OPENAI_MODELS }
      : { provider: "mock", models: config.MOCK_MODELS },
    defaults: {
      totalMs: config.UPSTREAM_TIMEOUT_MS,
      connectMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
      firstByteMs: config.UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
      idleMs: config.UPSTREAM_IDLE_TIMEOUT_MS,
    },
    createProvider,
    context: {
      breaker: {
        failureRatio: config.CIRCUIT_FAILURE_RATIO,
        minCalls: config.CIRCUIT_MIN_CALLS,
        windowMs: config.CIRCUIT_WINDOW_MS,
        cooldownMs: config.CIRCUIT_COOLDOWN_MS,
        halfOpenProbes: config.CIRCUIT_HALF_OPEN_PROBES,
      },
      metrics,
      logger: getLogger("gateway.routing"),
    },
  });
}

/** The upstream keys `MODEL_ROUTES` and the presets name, to keep out of every log line. */
function routeKeys(config: Config, env: Record<string, string>): Array<string | undefined> {
  return [
    ...Object.values(config.MODEL_ROUTES ?? {}).flatMap((route) =>
      route.deployments.map((d) => d.api_key_env ? env[d.api_key_env] : undefined)
    ),
    ...Object.values(PRESET_KEY_VARIABLES).map((variable) => env[variable]),
  ];
}

/**
 * The gateway's own HTTP/1.1 client measured some 50 µs of CPU cheaper per call than `fetch`;
 * `fetch` stays for what it alone does: proxies from the environment, or when asked for.
 */
function upstreamFetch(config: Config, connectTimeoutMs: number): UpstreamFetch {
  const proxied = ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]
    .some((name) => Deno.env.get(name));
  if (config.UPSTREAM_HTTP_CLIENT === "fetch" || proxied) return fetch;
  // Idle connections are dropped before the 5 s keep-alive of common upstream servers
  // (uvicorn, Node) would close them under us.
  return createHttp1Fetch({ idleTimeoutMs: 4_000, connectTimeoutMs }).fetch;
}

/** Tells a person at the terminal where the gateway listens and how to try it (on stderr). */
function printBanner(
  options: { url: string; store: Store; providers: string; firstKeyFile?: string; model?: string },
): void {
  const key = options.firstKeyFile ? `$(cat ${options.firstKeyFile})` : "<your API key>";
  const lines = [
    `Gateway listening on ${options.url} (store: ${options.store.kind}, provider: ${options.providers})`,
    "",
    "First request:",
    `  curl ${options.url}/v1/chat/completions \\`,
    `    -H "Authorization: Bearer ${key}" \\`,
    `    -H "Content-Type: application/json" \\`,
    `    -d '{"model": "${
      options.model ?? "gpt-4o-mini"
    }", "messages": [{"role": "user", "content": "Hello"}]}'`,
    "",
    `Health: ${options.url}/health   Readiness: ${options.url}/ready   Metrics: ${options.url}/metrics`,
  ];
  if (!options.firstKeyFile) {
    lines.push(
      "Create tenants and keys through the internal API (set ADMIN_TOKEN); see README.md.",
    );
  }
  console.error(lines.join("\n"));
}
