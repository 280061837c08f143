import client from "prom-client";
import process from "node:process";

/**
 * Latency buckets in seconds: from a fast cached answer to a long generation of minutes. 2 and 5
 * are the seed's P95 and P99 targets, so the latency SLI counts requests under them exactly.
 */
export const LATENCY_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2,
  2.5,
  5,
  10,
  20,
  30,
  60,
  120,
  300,
  600,
];

/** Overhead buckets in seconds: the gateway's own share of a request is meant to be small. */
export const OVERHEAD_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
];

/** A circuit breaker's state, as `gateway_circuit_state` reports it. */
export type CircuitStateName = "closed" | "half_open" | "open";

/** The value of `gateway_circuit_state` for each state. */
const CIRCUIT_STATE_VALUES: Readonly<Record<CircuitStateName, number>> = {
  closed: 0,
  half_open: 1,
  open: 2,
};

/** One deployment's circuit, read for the gauge. */
export interface CircuitReading {
  provider: string;
  model: string;
  deployment: string;
  state: CircuitStateName;
}

/** The labels of one upstream call: its deployment's provider and name, the upstream model. */
export interface UpstreamLabels {
  provider: string;
  model: string;
  /** The deployment's name, from configuration only, so the label's values stay few. */
  deployment: string;
}

/** The fixed set of upstream error classes: the `error` label never takes another value. */
export const UPSTREAM_ERROR_CLASSES = [
  "timeout",
  "connect",
  "rate_limited",
  "server_error",
  "client_error",
  "auth",
  "invalid_response",
  "circuit_open",
  "canceled",
] as const;

/** One upstream error class. */
export type UpstreamErrorClass = typeof UPSTREAM_ERROR_CLASSES[number];

/**
 * The gateway's Prometheus metrics, named exactly as the seed names them, in one registry of
 * their own so tests and several app instances in one process never share series.
 */
export class GatewayMetrics {
  /** The registry `GET /metrics` serves. */
  readonly registry: client.Registry = new client.Registry();

  /** Requests answered, by route template, method and status. */
  readonly requestTotal: client.Counter<"path" | "method" | "status"> = new client.Counter({
    name: "gateway_request_total",
    help: "HTTP requests answered by the gateway, by route template, method and status.",
    labelNames: ["path", "method", "status"] as const,
    registers: [this.registry],
  });

  /** Time from request to the last byte of the answer. */
  readonly requestLatency: client.Histogram<"path" | "method" | "status"> = new client.Histogram({
    name: "gateway_request_latency_seconds",
    help: "Time from receiving a request to sending the last byte of its answer, in seconds.",
    labelNames: ["path", "method", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Upstream call latency, successful or not. */
  readonly upstreamLatency: client.Histogram<"provider" | "model" | "deployment" | "success"> =
    new client.Histogram({
      name: "gateway_upstream_latency_seconds",
      help: "Duration of upstream calls until their last byte, in seconds, by outcome.",
      labelNames: ["provider", "model", "deployment", "success"] as const,
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });

  /** Failed upstream calls by error class. */
  readonly upstreamFailures: client.Counter<"provider" | "model" | "deployment" | "error"> =
    new client.Counter({
      name: "gateway_upstream_failures_total",
      help: "Failed upstream calls, by deployment and error class.",
      labelNames: ["provider", "model", "deployment", "error"] as const,
      registers: [this.registry],
    });

  /** Requests refused by a rate limit, by whose limit and what it counts. */
  readonly rateLimitHits: client.Counter<"scope" | "kind"> = new client.Counter({
    name: "gateway_rate_limit_hits_total",
    help: "Requests refused with 429 by a rate limit, by scope (key, tenant) and kind.",
    labelNames: ["scope", "kind"] as const,
    registers: [this.registry],
  });

  /** Requests with an `Idempotency-Key`, by how the key's check went. */
  readonly idempotencyRequests: client.Counter<"outcome"> = new client.Counter({
    name: "gateway_idempotency_requests_total",
    help:
      "Requests with an Idempotency-Key, by outcome (claimed, replayed, reused, in_use, not_kept, client_closed, unavailable).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  /** Time from sending a streaming request upstream to its first content byte. */
  readonly timeToFirstToken: client.Histogram<"provider" | "model" | "deployment"> = new client
    .Histogram({
    name: "gateway_upstream_ttft_seconds",
    help: "Time to the first byte of a streamed upstream answer, in seconds.",
    labelNames: ["provider", "model", "deployment"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** Tokens billed, by provider, upstream model and direction (`input` or `output`). */
  readonly tokens: client.Counter<"provider" | "model" | "direction"> = new client.Counter({
    name: "gateway_tokens_total",
    help: "Tokens used by upstream calls, by provider, model and direction (input, output).",
    labelNames: ["provider", "model", "direction"] as const,
    registers: [this.registry],
  });

  /** Time a request spends in the gateway itself: its latency minus the upstream call. */
  readonly overhead: client.Histogram<"path"> = new client.Histogram({
    name: "gateway_overhead_seconds",
    help: "Time spent in the gateway outside the upstream call, per request, in seconds.",
    labelNames: ["path"] as const,
    buckets: OVERHEAD_BUCKETS,
    registers: [this.registry],
  });

  /**
   * Upstream attempts made again after a failure: `kind` is `retry` (the same deployment) or
   * `fallback` (another deployment of the same model).
   */
  readonly retries: client.Counter<"model" | "kind" | "error"> = new client.Counter({
    name: "gateway_upstream_retries_total",
    help: "Upstream attempts repeated after a failure, by public model, kind and error class.",
    labelNames: ["model", "kind", "error"] as const,
    registers: [this.registry],
  });

  readonly #circuitSources: Array<() => CircuitReading[]> = [];

  /**
   * Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open, read at scrape time from
   * the sources of {@linkcode watchCircuits}, so that a cooldown that ran out shows as half-open
   * before the next call comes.
   */
  readonly circuitState: client.Gauge<"provider" | "model" | "deployment"> = new client.Gauge({
    name: "gateway_circuit_state",
    help: "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.",
    labelNames: ["provider", "model", "deployment"] as const,
    registers: [this.registry],
    collect: () => {
      for (const source of this.#circuitSources) {
        for (const { provider, model, deployment, state } of source()) {
          this.circuitState.set({ provider, model, deployment }, CIRCUIT_STATE_VALUES[state]);
        }
      }
    },
  });

  /** Reads `source` into `gateway_circuit_state` at every scrape. */
  watchCircuits(source: () => CircuitReading[]): void {
    this.#circuitSources.push(source);
  }

  constructor() {
    registerProcessMetrics(this.registry);
  }

  /** Jobs enqueued, by queue and task (the seed's `celery_task_sent_total`). */
  readonly jobsSent: client.Counter<"queue" | "task"> = new client.Counter({
    name: "gateway_queue_jobs_sent_total",
    help: "Jobs enqueued, by queue and task.",
    labelNames: ["queue", "task"] as const,
    registers: [this.registry],
  });

  /** Job runs that succeeded. */
  readonly jobsSucceeded: client.Counter<"queue" | "task"> = new client.Counter({
    name: "gateway_queue_jobs_succeeded_total",
    help: "Job runs that succeeded, by queue and task.",
    labelNames: ["queue", "task"] as const,
    registers: [this.registry],
  });

  /** Job runs that failed; `retried` says whether the job was scheduled again or dead-lettered. */
  readonly jobsFailed: client.Counter<"queue" | "task" | "retried"> = new client.Counter({
    name: "gateway_queue_jobs_failed_total",
    help: "Job runs that failed, by queue, task and whether the job will be retried.",
    labelNames: ["queue", "task", "retried"] as const,
    registers: [this.registry],
  });

  /** How long job handlers run. */
  readonly jobRuntime: client.Histogram<"queue" | "task"> = new client.Histogram({
    name: "gateway_queue_job_runtime_seconds",
    help: "Run time of job handlers, in seconds.",
    labelNames: ["queue", "task"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  /**
   * The queue's gauges, read at scrape time: depth per queue (`retry` and `dead` included) and
   * workers whose heartbeat is current.
   */
  watchQueue(source: {
    depths: () => Promise<Record<string, number>>;
    workers: () => Promise<Array<{ queue: string; alive: boolean }>>;
  }): void {
    new client.Gauge({
      name: "gateway_queue_depth",
      help:
        "Jobs waiting per queue; retry holds jobs waiting to be retried, dead the dead letters.",
      labelNames: ["queue"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const depths = await source.depths().catch(() => ({}));
        for (const [queue, depth] of Object.entries(depths)) this.set({ queue }, depth);
      },
    });
    new client.Gauge({
      name: "gateway_queue_workers_up",
      help: "Workers with a current heartbeat, per queue (the seed's celery_workers).",
      labelNames: ["queue"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const workers = await source.workers().catch(() => []);
        const up: Record<string, number> = {};
        for (const worker of workers) {
          up[worker.queue] = (up[worker.queue] ?? 0) + (worker.alive ? 1 : 0);
        }
        for (const [queue, count] of Object.entries(up)) this.set({ queue }, count);
      },
    });
  }

  /**
   * `gateway_budget_used_ratio`, read at scrape time: the share of its budget each tenant (with
   * `key` empty) or key spent in the current period. Only the most used few `source` gives are
   * series, so the label set stays bounded however many budgets there are.
   */
  watchBudgets(
    source: () => Promise<Array<{ tenantId: string; apiKeyId: string | null; usedRatio: number }>>,
  ): void {
    new client.Gauge({
      name: "gateway_budget_used_ratio",
      help:
        "Share of its budget a tenant (key empty) or an API key spent in the current period; the most used only.",
      labelNames: ["tenant", "key"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const budgets = await source().catch(() => []);
        for (const budget of budgets) {
          this.set({ tenant: budget.tenantId, key: budget.apiKeyId ?? "" }, budget.usedRatio);
        }
      },
    });
  }

  /** A queue observer that counts into these metrics. */
  queueObserver(): {
    jobSent(queue: string, task: string): void;
    jobSucceeded(queue: string, task: string, seconds: number): void;
    jobFailed(queue: string, task: string, seconds: number, willRetry: boolean): void;
  } {
    return {
      jobSent: (queue, task) => this.jobsSent.inc({ queue, task }),
      jobSucceeded: (queue, task, seconds) => {
        this.jobsSucceeded.inc({ queue, task });
        this.jobRuntime.observe({ queue, task }, seconds);
      },
      jobFailed: (queue, task, seconds, willRetry) => {
        this.jobsFailed.inc({ queue, task, retried: String(willRetry) });
        this.jobRuntime.observe({ queue, task }, seconds);
      },
    };
  }

  /**
   * The seed's infrastructure gauges, read at scrape time: `pg_up` when the store is PostgreSQL
   * (1 when it answers a ping), `redis_connected` when Redis is configured.
   */
  watchDependencies(options: {
    postgresPing?: () => Promise<void>;
    redisReady?: () => boolean;
  }): void {
    const { postgresPing, redisReady } = options;
    if (postgresPing) {
      new client.Gauge({
        name: "pg_up",
        help: "Whether PostgreSQL answers (1) or not (0).",
        registers: [this.registry],
        async collect() {
          this.set(await postgresPing().then(() => 1, () => 0));
        },
      });
    }
    if (redisReady) {
      new client.Gauge({
        name: "redis_connected",
        help: "Whether the connection to Redis is up (1) or not (0).",
        registers: [this.registry],
        collect() {
          this.set(redisReady() ? 1 : 0);
        },
      });
    }
  }

  /** Records one answered request. */
  observeRequest(labels: { path: string; method: string; status: number }, seconds: number): void {
    const values = { path: labels.path, method: labels.method, status: String(labels.status) };
    this.requestTotal.inc(values);
    this.requestLatency.observe(values, seconds);
  }

  /** Records one upstream call; `error` is set when it failed. */
  observeUpstream(
    labels: UpstreamLabels & { error?: UpstreamErrorClass },
    seconds: number,
  ): void {
    const { provider, model, deployment, error } = labels;
    this.upstreamLatency.observe(
      { provider, model, deployment, success: String(error === undefined) },
      seconds,
    );
    if (error !== undefined) this.upstreamFailures.inc({ provider, model, deployment, error });
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

const START_TIME_SECONDS = Math.round(Date.now() / 1000 - performance.now() / 1000);

/**
 * Process metrics from Deno's own APIs: prom-client's `collectDefaultMetrics()` does not work on
 * Deno, so the standard `process_*` series are computed here at scrape time.
 */
function registerProcessMetrics(registry: client.Registry): void {
  new client.Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers: [registry],
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  const gauges: Array<[string, string, () => number | undefined]> = [
    [
      "process_resident_memory_bytes",
      "Resident memory size in bytes.",
      () => Deno.memoryUsage().rss,
    ],
    ["process_heap_bytes", "V8 heap in use, in bytes.", () => Deno.memoryUsage().heapUsed],
    [
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.",
      () => START_TIME_SECONDS,
    ],
    ["process_open_fds", "Number of open file descriptors.", openFileDescriptors],
    [
      "deno_heap_total_bytes",
      "V8 heap reserved by the Deno runtime, in bytes.",
      () => Deno.memoryUsage().heapTotal,
    ],
    [
      "deno_external_memory_bytes",
      "Memory held outside the V8 heap, in bytes.",
      () => Deno.memoryUsage().external,
    ],
  ];
  for (const [name, help, read] of gauges) {
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const value = read();
        if (value !== undefined) this.set(value);
      },
    });
  }
}

function openFileDescriptors(): number | undefined {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
    return count;
  } catch {
    return undefined;
  }
}
