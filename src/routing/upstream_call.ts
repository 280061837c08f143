import { type ChatCompletion, HttpError, type Usage } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { GatewayMetrics, UpstreamErrorClass } from "../observability/metrics.ts";
import type { UpstreamFailureRecorder } from "../observability/upstream_failures.ts";
import { type ProviderOperation, type ProviderResult, UpstreamError } from "../providers/mod.ts";
import type { CallVerdict, CircuitPermit } from "./breaker.ts";
import type { Deadlines } from "./deadlines.ts";
import type { Deployment } from "./deployment.ts";
import type { RetryPolicy } from "./retry_policy.ts";
import type { ModelRouter, Route } from "./router.ts";
import type { RandomSource } from "./strategies.ts";

/** What an {@linkcode UpstreamCaller} is built from. */
export interface UpstreamCallerOptions {
  router: ModelRouter;
  policy: RetryPolicy;
  deadlines: Deadlines;
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  /** The jitter's random source; `Math.random` by default. */
  random?: RandomSource;
  /** Keeps the latest failed requests' upstream failures, for the status page. */
  failures?: UpstreamFailureRecorder;
}

/** What a request's upstream attempts leave for its record; filled in as they go. */
export interface AttemptTrail {
  /** The provider of the latest attempt. */
  provider?: string;
  /** The name of the latest attempt's deployment. */
  deployment?: string;
  /** Seconds spent in upstream attempts, summed; a stream's attempt counts until its end. */
  upstreamSeconds?: number;
}

/** The request's side of an upstream call. */
export interface CallContext {
  traceId: string;
  traceparent?: string;
  /** Aborts when the client goes away. */
  clientSignal: AbortSignal;
  trail: AttemptTrail;
}

/** A successful attempt's answer and who gave it. */
export interface UpstreamAnswer<Body = ChatCompletion> {
  /** For a stream, `outcome` settles after the attempt's metrics and circuit are updated. */
  result: ProviderResult<Body>;
  provider: string;
  upstreamModel: string;
}

/** Where the next attempt goes after a failure, and how long to wait before it. */
interface NextAttempt {
  deployment: Deployment;
  kind: "retry" | "fallback";
  waitMs: number;
}

/** The state of one request's attempts. */
interface Attempts {
  route: Route;
  started: number;
  count: number;
  perDeployment: Map<Deployment, number>;
  excluded: Set<Deployment>;
}

/**
 * The upstream part of a request: picks a deployment of the route, calls it under its timeouts
 * and circuit, and on a retryable failure tries again (the same deployment after a backoff, or
 * at once another) within the policy's attempts and deadline. The answer is returned as soon as
 * an attempt succeeds, a stream as soon as its head arrived: from then on nothing is retried,
 * since the client may have received a byte.
 */
export class UpstreamCaller {
  readonly #options: UpstreamCallerOptions;
  readonly #random: RandomSource;

  constructor(options: UpstreamCallerOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /**
   * The `circuit_open` error for a route whose every circuit is open, else undefined: checked
   * before a request reserves quota or calls anyone, so that it is refused at once.
   */
  refusal(route: Route): UpstreamError | undefined {
    return this.#options.router.pick(route) === undefined ? this.#circuitOpen(route) : undefined;
  }

  /**
   * Makes `operation`'s call along `route` (resolved for that operation, so that every deployment
   * serves it); throws {@linkcode UpstreamError}.
   */
  async call<Body>(
    route: Route,
    operation: ProviderOperation<Body>,
    context: CallContext,
  ): Promise<UpstreamAnswer<Body>> {
    const state: Attempts = {
      route,
      started: performance.now(),
      count: 0,
      perDeployment: new Map(),
      excluded: new Set(),
    };
    let deployment = this.#options.router.pick(route);
    if (deployment === undefined) throw this.#circuitOpen(route);
    for (;;) {
      const permit = deployment.breaker.acquire();
      if (permit === undefined) {
        // Its circuit opened while this request waited to retry it: anyone else?
        state.excluded.add(deployment);
        deployment = this.#options.router.pick(route, {
          excluded: state.excluded,
          avoided: new Set(state.perDeployment.keys()),
        });
        if (deployment === undefined) throw this.#circuitOpen(route);
        continue;
      }
      state.count++;
      state.perDeployment.set(deployment, (state.perDeployment.get(deployment) ?? 0) + 1);
      let failure: UpstreamError;
      try {
        return await this.#attempt({ route, deployment, permit }, operation, context);
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        failure = error;
      }
      const next = this.#next(state, deployment, failure);
      this.#logFailure(route, deployment, operation, failure, next);
      if (next === undefined) throw failure;
      this.#options.metrics.retries.inc({
        model: route.model,
        kind: next.kind,
        error: failure.errorClass,
      });
      if (next.waitMs > 0) await wait(next.waitMs, context.clientSignal);
      deployment = next.deployment;
    }
  }

  /** Where to go after `failed` failed with `failure`, or undefined to give up. */
  #next(state: Attempts, failed: Deployment, failure: UpstreamError): NextAttempt | undefined {
    const { policy, router } = this.#options;
    const scope = policy.scopeOf(failure.errorClass);
    if (scope === "none") return undefined;
    if (scope === "other") state.excluded.add(failed);
    const elapsed = performance.now() - state.started;
    if (state.count >= policy.options.maxAttempts || elapsed >= policy.options.deadlineMs) {
      return undefined;
    }
    const avoided = new Set(state.perDeployment.keys());
    for (;;) {
      const deployment = router.pick(state.route, { excluded: state.excluded, avoided });
      if (deployment === undefined) return undefined;
      if (deployment !== failed) return { deployment, kind: "fallback", waitMs: 0 };
      const waitMs = policy.backoffMs(state.perDeployment.get(deployment) ?? 1, {
        retryAfterSeconds: failure.retryAfterSeconds,
        random: this.#random,
      });
      if (waitMs === undefined) {
        state.excluded.add(deployment);
        continue;
      }
      if (elapsed + waitMs > policy.options.deadlineMs) return undefined;
      return { deployment, kind: "retry", waitMs };
    }
  }

  async #attempt<Body>(
    target: { route: Route; deployment: Deployment; permit: CircuitPermit },
    operation: ProviderOperation<Body>,
    context: CallContext,
  ): Promise<UpstreamAnswer<Body>> {
    const { route, deployment, permit } = target;
    const { deadlines } = this.#options;
    const provider = deployment.provider.name;
    const upstreamModel = deployment.upstreamModel ?? operation.model;
    const labels = { provider, model: upstreamModel, deployment: deployment.name };
    const scope = deadlines.open(deployment.timeouts.totalMs, context.clientSignal);
    const started = performance.now();
    context.trail.provider = provider;
    context.trail.deployment = deployment.name;
    const end = (errorClass: UpstreamErrorClass | undefined, usage: Usage | undefined) => {
      scope.done();
      const seconds = (performance.now() - started) / 1000;
      context.trail.upstreamSeconds = (context.trail.upstreamSeconds ?? 0) + seconds;
      this.#options.metrics.observeUpstream({ ...labels, error: errorClass }, seconds);
      permit.report(verdictOf(errorClass));
      if (usage) this.#countTokens(provider, upstreamModel, usage);
      return seconds;
    };
    let result: ProviderResult<Body>;
    try {
      result = await operation.invoke(deployment.provider, {
        signal: scope.signal,
        traceId: context.traceId,
        traceparent: context.traceparent,
        upstreamModel,
      });
    } catch (error) {
      if (error instanceof HttpError) {
        // The provider refused the request before calling anyone: the client's error, not the
        // deployment's, so no upstream metric, no breaker verdict, no other attempt.
        scope.done();
        permit.report("neutral");
        throw error;
      }
      const failure = error instanceof UpstreamError
        ? error
        : new UpstreamError("invalid_response", "The upstream call failed", { cause: error });
      const seconds = end(failure.errorClass, undefined);
      // A deployment that times out must not look fast to `least_latency`.
      if (failure.errorClass === "timeout") deployment.latency.observe(seconds * 1000);
      throw failure;
    }
    if (result.kind === "json") {
      deployment.latency.observe(end(undefined, operation.usageOf(result.body)) * 1000);
      return { result, provider, upstreamModel };
    }
    const body = onFirstChunk(result.body, () => {
      const seconds = (performance.now() - started) / 1000;
      this.#options.metrics.timeToFirstToken.observe(labels, seconds);
      deployment.latency.observe(seconds * 1000);
    });
    const outcome = result.outcome.then((outcome) => {
      end(outcome.error, outcome.usage);
      if (outcome.error !== undefined) {
        const failure = new UpstreamError(outcome.error, "The stream broke off");
        this.#logFailure(route, deployment, operation, failure, undefined);
      }
      return outcome;
    });
    return { result: { kind: "stream", body, outcome }, provider, upstreamModel };
  }

  #countTokens(provider: string, model: string, usage: Usage): void {
    const { tokens } = this.#options.metrics;
    if (Number.isFinite(usage.prompt_tokens)) {
      tokens.inc({ provider, model, direction: "input" }, usage.prompt_tokens);
    }
    if (Number.isFinite(usage.completion_tokens)) {
      tokens.inc({ provider, model, direction: "output" }, usage.completion_tokens);
    }
  }

  #circuitOpen(route: Route): UpstreamError {
    for (const deployment of route.deployments) {
      this.#options.metrics.upstreamFailures.inc({
        provider: deployment.provider.name,
        model: deployment.upstreamModel ?? route.model,
        deployment: deployment.name,
        error: "circuit_open",
      });
    }
    return new UpstreamError(
      "circuit_open",
      `Every deployment of the model '${route.model}' is failing; retry later`,
    );
  }

  #logFailure(
    route: Route,
    deployment: Deployment,
    operation: Pick<ProviderOperation<unknown>, "model" | "endpoint">,
    failure: UpstreamError,
    next: NextAttempt | undefined,
  ): void {
    const fields = {
      provider: deployment.provider.name,
      deployment: deployment.name,
      model: route.model,
      upstream_model: deployment.upstreamModel ?? operation.model,
      endpoint: operation.endpoint,
      // Not `error`: elsewhere that field holds an error object, and log stores type a field once.
      error_class: failure.errorClass,
      upstream_status: failure.status,
      detail: failure.message,
      next: next?.kind,
      wait_ms: next?.waitMs,
    };
    const { logger } = this.#options;
    // A client that went away is not an upstream failure worth paging anyone about, and one
    // followed by another attempt is not the request's failure (yet).
    if (failure.errorClass === "canceled") logger.info("upstream_canceled", fields);
    else if (next) logger.warning("upstream_attempt_failed", fields);
    else {
      logger.error("upstream_error", fields);
      this.#options.failures?.record(fields);
    }
  }
}

/** How an attempt's outcome counts for its deployment's circuit. */
function verdictOf(errorClass: UpstreamErrorClass | undefined): CallVerdict {
  if (errorClass === undefined) return "success";
  // The client's own mistakes and departures say nothing about the deployment's health.
  if (errorClass === "client_error" || errorClass === "canceled") return "neutral";
  return "failure";
}

/** Waits `ms`, or throws a `canceled` error as soon as the client goes away. */
function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const canceled = () => {
      clearTimeout(timer);
      reject(new UpstreamError("canceled", "The client closed the request"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", canceled);
      resolve();
    }, ms);
    if (signal.aborted) return canceled();
    signal.addEventListener("abort", canceled, { once: true });
  });
}

/** Passes a stream through and calls `first` when its first chunk goes out. */
function onFirstChunk(
  body: ReadableStream<Uint8Array>,
  first: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let seen = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      if (!seen) seen = true, first();
      controller.enqueue(value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
