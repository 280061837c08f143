import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { HttpError, type ModelInfo } from "../core/mod.ts";
import { getLogger } from "../observability/logging.ts";
import { GatewayMetrics } from "../observability/metrics.ts";
import {
  chatOperation,
  completionOperation,
  embeddingOperation,
  MockProvider,
  type Provider,
  type ProviderResult,
} from "../providers/mod.ts";
import { createDeployment, type Deployment } from "./deployment.ts";
import { ModelRouter } from "./router.ts";

/** A provider that serves chat only, as Anthropic's does. */
class ChatOnlyProvider implements Provider {
  readonly name = "chat_only";
  listModels(): Promise<ModelInfo[]> {
    return Promise.resolve([]);
  }
  chatCompletion(): Promise<ProviderResult> {
    return Promise.reject(new Error("not called"));
  }
}

function deployment(provider: Provider): Deployment {
  return createDeployment({
    name: provider.name,
    provider,
    upstreamModel: undefined,
    weight: 1,
    priority: 0,
    timeouts: { totalMs: 1_000, connectMs: 1_000, firstByteMs: undefined, idleMs: 1_000 },
  }, {
    breaker: {
      failureRatio: 0.5,
      minCalls: 2,
      windowMs: 60_000,
      cooldownMs: 60_000,
      halfOpenProbes: 1,
    },
    metrics: new GatewayMetrics(),
    logger: getLogger("test.router"),
  });
}

const EMBED = embeddingOperation({ model: "mixed", input: "x" });
const COMPLETE = completionOperation({ model: "mixed", prompt: "x" });

Deno.test("routing keeps only the deployments whose provider serves the operation", () => {
  const chatOnly = deployment(new ChatOnlyProvider());
  const mock = deployment(new MockProvider({ models: [] }));
  const route = { model: "mixed", strategy: "weighted" as const, deployments: [chatOnly, mock] };
  const router = new ModelRouter({ routes: [route] });
  const chat = chatOperation({ model: "mixed", messages: [{ role: "user", content: "x" }] });
  assertEquals(router.resolve("mixed", chat), route, "chat is served by every provider");
  for (const operation of [EMBED, COMPLETE]) {
    const resolved = router.resolve("mixed", operation);
    assertEquals(resolved.deployments, [mock]);
    assertEquals(resolved.strategy, "weighted");
    assertEquals(router.pick(resolved), mock);
  }
});

Deno.test("a model none of whose providers serves the operation gets 400 unsupported_operation", () => {
  const only = deployment(new ChatOnlyProvider());
  const routed = new ModelRouter({
    routes: [{ model: "claude", strategy: "weighted", deployments: [only] }],
  });
  const catchAll = new ModelRouter({
    routes: [],
    catchAll: { strategy: "weighted", deployments: [only] },
  });
  for (const router of [routed, catchAll]) {
    const error = assertThrows(() =>
      router.resolve("claude", embeddingOperation({ model: "claude", input: "x" }))
    );
    assert(error instanceof HttpError);
    assertEquals([error.status, error.type, error.code, error.param], [
      400,
      "invalid_request_error",
      "unsupported_operation",
      "model",
    ]);
    assertEquals(
      error.message,
      "The model 'claude' cannot serve /v1/embeddings: no provider of its deployments (chat_only) offers it",
    );
  }
});
