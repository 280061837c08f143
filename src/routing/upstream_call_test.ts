import { assert, assertEquals } from "../../tests/assert.ts";
import type { ChatCompletionRequest, ModelInfo } from "../core/mod.ts";
import { getLogger } from "../observability/logging.ts";
import { GatewayMetrics } from "../observability/metrics.ts";
import {
  chatOperation,
  type Provider,
  type ProviderResult,
  type UpstreamCall,
  UpstreamError,
} from "../providers/mod.ts";
import { Deadlines } from "./deadlines.ts";
import { createDeployment, type Deployment } from "./deployment.ts";
import { RetryPolicy, type RetryPolicyOptions } from "./retry_policy.ts";
import { ModelRouter, type Route } from "./router.ts";
import { UpstreamCaller } from "./upstream_call.ts";
import type { RoutingStrategy } from "../config/mod.ts";

/** What a scripted provider does on one call. */
type Step = "ok" | "stream" | UpstreamError;

/** A provider that follows a script, one step per call, then answers `ok`. */
class ScriptedProvider implements Provider {
  readonly name = "openai";
  calls = 0;
  constructor(readonly script: Step[] = []) {}
  listModels(): Promise<ModelInfo[]> {
    return Promise.resolve([]);
  }
  chatCompletion(_request: ChatCompletionRequest, call: UpstreamCall): Promise<ProviderResult> {
    const step = this.script[this.calls++] ?? "ok";
    if (step instanceof UpstreamError) return Promise.reject(step);
    const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
    if (step === "ok") {
      return Promise.resolve({
        kind: "json",
        body: {
          id: "x",
          object: "chat.completion",
          created: 0,
          model: call.upstreamModel,
          choices: [],
          usage,
        },
      });
    }
    const outcome = Promise.withResolvers<{ producedChars: number; error?: "connect" }>();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("data: {}\n\n"));
        controller.close();
        outcome.resolve({ producedChars: 1, error: "connect" });
      },
    });
    return Promise.resolve({ kind: "stream", body, outcome: outcome.promise });
  }
}

const REQUEST: ChatCompletionRequest = {
  model: "public",
  messages: [{ role: "user", content: "hi" }],
} as ChatCompletionRequest;

function setup(
  scripts: Step[][],
  options: {
    strategy?: RoutingStrategy;
    policy?: Partial<RetryPolicyOptions>;
    minCalls?: number;
  } = {},
) {
  const metrics = new GatewayMetrics();
  const logger = getLogger("test.routing");
  const providers = scripts.map((script) => new ScriptedProvider(script));
  const deployments: Deployment[] = providers.map((provider, index) =>
    createDeployment({
      name: `deployment-${index}`,
      provider,
      upstreamModel: `upstream-${index}`,
      weight: 1,
      priority: index,
      timeouts: { totalMs: 5_000, connectMs: 1_000, firstByteMs: undefined, idleMs: 1_000 },
    }, {
      breaker: {
        failureRatio: 0.5,
        minCalls: options.minCalls ?? 2,
        windowMs: 60_000,
        cooldownMs: 60_000,
        halfOpenProbes: 1,
      },
      metrics,
      logger,
    })
  );
  const route: Route = {
    model: "public",
    strategy: options.strategy ?? "priority",
    deployments,
  };
  const router = new ModelRouter({ routes: [route], random: () => 0 });
  const caller = new UpstreamCaller({
    router,
    policy: new RetryPolicy({
      maxAttempts: 3,
      deadlineMs: 10_000,
      backoffMs: 1,
      backoffMaxMs: 2,
      retryAfterMaxMs: 50,
      ...options.policy,
    }),
    deadlines: new Deadlines({ tickMs: 10 }),
    metrics,
    logger,
    random: () => 0.5,
  });
  const call = () =>
    caller.call(route, chatOperation(REQUEST), {
      traceId: "t",
      clientSignal: new AbortController().signal,
      trail: {},
    });
  return { providers, deployments, route, caller, metrics, call };
}

async function metricText(metrics: GatewayMetrics): Promise<string> {
  return (await metrics.render()).body;
}

async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof UpstreamError, `not an UpstreamError: ${error}`);
    return error;
  }
  throw new Error("the call did not fail");
}

Deno.test("a failing deployment falls back to the next one, counted as a fallback", async () => {
  const { providers, call, metrics } = setup([
    [new UpstreamError("server_error", "boom", { status: 500 })],
    [],
  ]);
  const answer = await call();
  assertEquals(answer.upstreamModel, "upstream-1");
  assertEquals(providers.map((p) => p.calls), [1, 1]);
  const text = await metricText(metrics);
  assert(
    text.includes(
      'gateway_upstream_retries_total{model="public",kind="fallback",error="server_error"} 1',
    ),
    text,
  );
  assert(
    text.includes(
      'gateway_upstream_failures_total{provider="openai",model="upstream-0",deployment="deployment-0",error="server_error"} 1',
    ),
  );
  assert(
    text.includes('gateway_tokens_total{provider="openai",model="upstream-1",direction="input"} 3'),
  );
});

Deno.test("with one deployment a retryable failure is retried on it, up to the attempt limit", async () => {
  const failure = () => new UpstreamError("connect", "refused");
  const { providers, call, metrics } = setup([[failure(), failure(), failure(), failure()]], {
    minCalls: 10,
  });
  const error = await rejection(call());
  assertEquals(error.errorClass, "connect");
  assertEquals(providers[0].calls, 3);
  const text = await metricText(metrics);
  assert(
    text.includes('gateway_upstream_retries_total{model="public",kind="retry",error="connect"} 2'),
  );
});

Deno.test("a client's mistake is never retried", async () => {
  const { providers, call } = setup([
    [new UpstreamError("client_error", "bad", { status: 400 })],
    [],
  ]);
  assertEquals((await rejection(call())).errorClass, "client_error");
  assertEquals(providers.map((p) => p.calls), [1, 0]);
});

Deno.test("a Retry-After over the cap moves on rather than waiting; with nowhere to go it fails at once", async () => {
  const limited = () => new UpstreamError("rate_limited", "slow down", { retryAfterSeconds: 7 });
  const alone = setup([[limited(), limited()]]);
  const error = await rejection(alone.call());
  assertEquals(error.retryAfterSeconds, 7);
  assertEquals(alone.providers[0].calls, 1);

  const pair = setup([[limited()], []]);
  assertEquals((await pair.call()).upstreamModel, "upstream-1");
});

Deno.test("a deployment refusing the gateway's key is left for another, never retried itself", async () => {
  const { providers, call } = setup([[new UpstreamError("auth", "no", { status: 401 })]]);
  assertEquals((await rejection(call())).errorClass, "auth");
  assertEquals(providers[0].calls, 1);
});

Deno.test("a stream is never retried once its head arrived, even when it breaks off", async () => {
  const { providers, call } = setup([["stream"], []]);
  const answer = await call();
  assert(answer.result.kind === "stream");
  await answer.result.body.pipeTo(new WritableStream());
  const outcome = await answer.result.outcome;
  assertEquals(outcome.error, "connect");
  assertEquals(providers.map((p) => p.calls), [1, 0]);
});

Deno.test("open circuits are skipped, and with every circuit open the call fails fast", async () => {
  const failure = () => new UpstreamError("server_error", "boom", { status: 500 });
  const { providers, call, caller, route, deployments, metrics } = setup([
    [failure(), failure(), failure()],
    [failure(), failure(), failure()],
  ], { policy: { maxAttempts: 2 } });
  await rejection(call());
  await rejection(call());
  assertEquals(deployments.map((d) => d.breaker.state), ["open", "open"]);
  const callsBefore = providers.map((p) => p.calls);
  const refused = await rejection(call());
  assertEquals(refused.errorClass, "circuit_open");
  assertEquals(providers.map((p) => p.calls), callsBefore, "no upstream was called");
  assertEquals(caller.refusal(route)?.errorClass, "circuit_open");
  const text = await metricText(metrics);
  for (const index of [0, 1]) {
    assert(
      text.includes(
        `gateway_circuit_state{provider="openai",model="upstream-${index}",deployment="deployment-${index}"} 2`,
      ),
      text,
    );
  }
});
