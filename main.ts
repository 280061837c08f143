/**
 * @module
 * The gateway program: reads the configuration, builds every component once, serves HTTP, and
 * shuts down gracefully on SIGTERM or SIGINT.
 */
import { ApiKeyAuthenticator } from "./src/auth/mod.ts";
import { type Config, ConfigError, loadConfig } from "./src/config/mod.ts";
import { createApp, type ReadinessCheck } from "./src/http/mod.ts";
import { getLogger, setupLogging } from "./src/observability/logging.ts";
import { GatewayMetrics } from "./src/observability/metrics.ts";
import { ChatPipeline } from "./src/pipeline/mod.ts";
import { MockProvider, OpenAIProvider, type Provider } from "./src/providers/mod.ts";
import { closeRedis, connectRedis, pingRedis, type RedisConnection } from "./src/redis/mod.ts";
import { ModelRouter } from "./src/routing/mod.ts";
import { openStore, type Store } from "./src/store/mod.ts";
import { bootstrapFirstKey, TenantService } from "./src/tenants/mod.ts";

const logger = getLogger("gateway.main");

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`gateway: ${error.message}`);
    return 2;
  }
  const logging = await setupLogging({
    level: config.LOG_LEVEL,
    json: config.LOG_JSON_FORMAT,
    filePath: config.LOG_FILE_PATH,
    rotationBytes: config.LOG_ROTATION,
    retentionMs: config.LOG_RETENTION,
  });
  let store: Store;
  try {
    store = await openStore({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  } catch (error) {
    logger.critical("application_startup_failed", { reason: "database", error });
    await logging.dispose();
    return 1;
  }
  const redis = config.REDIS_URL
    ? connectRedis({ url: config.REDIS_URL, logger: getLogger("gateway.redis") })
    : undefined;

  const metrics = new GatewayMetrics();
  const authenticator = new ApiKeyAuthenticator({ store, cacheTtlMs: config.KEY_CACHE_TTL_MS });
  const provider = upstreamProvider(config);
  const router = new ModelRouter({
    provider,
    models: config.OPENAI_BASE_URL ? config.OPENAI_MODELS : config.MOCK_MODELS,
  });
  const pipeline = new ChatPipeline({
    router,
    metrics,
    logger: getLogger("gateway.pipeline"),
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
  });
  const tenants = new TenantService({ store, authenticator });
  let draining = false;
  const readiness: Record<string, ReadinessCheck | undefined> = {
    database: () => store.ping(),
    redis: redis ? () => pingRedis(redis) : undefined,
  };
  const app = createApp({
    metrics,
    logger: getLogger("gateway.http"),
    authenticator,
    pipeline,
    router,
    tenants,
    adminToken: config.ADMIN_TOKEN,
    maxBodyBytes: config.MAX_BODY_BYTES,
    readiness,
    isDraining: () => draining,
  });

  const firstKeyFile = store.kind === "sqlite"
    ? await bootstrapFirstKey({ tenants, dataDir: config.DATA_DIR })
    : undefined;

  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: config.HOST,
    port: config.PORT,
    onListen: (address) => listening.resolve(address as Deno.NetAddr),
  }, app.fetch);
  const address = await listening.promise;
  const url = `http://${
    address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
  }:${address.port}`;
  logger.info("application_startup", {
    url,
    store: store.kind,
    redis: redis ? "configured" : "not_configured",
    provider: provider.name,
    pid: Deno.pid,
  });
  printBanner({
    url,
    store,
    provider,
    firstKeyFile,
    models: await router.listModels(AbortSignal.timeout(1000)).then((m) => m.map((x) => x.id))
      .catch(() => []),
  });

  const stop = Promise.withResolvers<string>();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => stop.resolve(signal));
  }
  const signal = await stop.promise;
  draining = true;
  logger.info("application_draining", { signal, deadline_ms: config.SHUTDOWN_TIMEOUT_MS });
  const finished = await Promise.race([
    server.shutdown().then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), config.SHUTDOWN_TIMEOUT_MS)),
  ]);
  logger.info("application_shutdown", { signal, drained: finished });
  await closeAll(store, redis);
  await logging.dispose();
  return 0;
}

function upstreamProvider(config: Config): Provider {
  if (config.OPENAI_BASE_URL) {
    return new OpenAIProvider({ baseUrl: config.OPENAI_BASE_URL, apiKey: config.OPENAI_API_KEY });
  }
  return new MockProvider({ models: config.MOCK_MODELS });
}

async function closeAll(store: Store, redis: RedisConnection | undefined): Promise<void> {
  await Promise.allSettled([store.close(), redis ? closeRedis(redis) : Promise.resolve()]);
}

function printBanner(
  options: {
    url: string;
    store: Store;
    provider: Provider;
    firstKeyFile?: string;
    models: string[];
  },
): void {
  const key = options.firstKeyFile ? `$(cat ${options.firstKeyFile})` : "<your API key>";
  const model = options.models[0] ?? "gpt-4o-mini";
  const lines = [
    `Gateway listening on ${options.url} (store: ${options.store.kind}, provider: ${options.provider.name})`,
    "",
    "First request:",
    `  curl ${options.url}/v1/chat/completions \\`,
    `    -H "Authorization: Bearer ${key}" \\`,
    `    -H "Content-Type: application/json" \\`,
    `    -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello"}]}'`,
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

if (import.meta.main) {
  Deno.exit(await main());
}
