import { assertEquals, assertMatch, assertStringIncludes } from "../../tests/assert.ts";
import { GatewayMetrics } from "./metrics.ts";

Deno.test("pg_up and redis_connected follow their dependencies at scrape time", async () => {
  const metrics = new GatewayMetrics();
  let pgUp = true;
  let redisUp = false;
  metrics.watchDependencies({
    postgresPing: () => pgUp ? Promise.resolve() : Promise.reject(new Error("down")),
    redisReady: () => redisUp,
  });
  let { body } = await metrics.render();
  assertMatch(body, /^pg_up 1$/m);
  assertMatch(body, /^redis_connected 0$/m);
  pgUp = false;
  redisUp = true;
  ({ body } = await metrics.render());
  assertMatch(body, /^pg_up 0$/m);
  assertMatch(body, /^redis_connected 1$/m);
});

Deno.test("upstream failures are counted by their class and deployment", async () => {
  const metrics = new GatewayMetrics();
  const eu = { provider: "openai", model: "m", deployment: "eu" };
  metrics.observeUpstream({ ...eu, error: "timeout" }, 1.5);
  metrics.observeUpstream(eu, 0.2);
  metrics.observeUpstream({ ...eu, deployment: "us" }, 0.3);
  const { body } = await metrics.render();
  const labels = 'provider="openai",model="m",deployment';
  assertMatch(
    body,
    new RegExp(`gateway_upstream_failures_total\\{${labels}="eu",error="timeout"\\} 1`),
  );
  assertEquals(body.includes('deployment="us",error='), false, "us never failed");
  for (const [deployment, success] of [["eu", "true"], ["eu", "false"], ["us", "true"]]) {
    assertMatch(
      body,
      new RegExp(
        `gateway_upstream_latency_seconds_count\\{${labels}="${deployment}",success="${success}"\\} 1`,
      ),
    );
  }
});

Deno.test("two deployments of one provider and model have a circuit series each", async () => {
  const metrics = new GatewayMetrics();
  const states = { eu: "open", us: "closed" } as const;
  metrics.watchCircuits(() =>
    Object.entries(states).map(([deployment, state]) => ({
      provider: "openai",
      model: "gpt-4o",
      deployment,
      state,
    }))
  );
  const { body } = await metrics.render();
  const series = body.split("\n").filter((line) => line.startsWith("gateway_circuit_state{"));
  assertEquals(series, [
    'gateway_circuit_state{provider="openai",model="gpt-4o",deployment="eu"} 2',
    'gateway_circuit_state{provider="openai",model="gpt-4o",deployment="us"} 0',
  ]);
});

Deno.test("gateway_budget_used_ratio has a series per budget the source gives, read at scrape", async () => {
  const metrics = new GatewayMetrics();
  let budgets = [
    { tenantId: "tnt_a", apiKeyId: "key_a", usedRatio: 0.95 },
    { tenantId: "tnt_a", apiKeyId: null, usedRatio: 0.5 },
  ];
  metrics.watchBudgets(() => Promise.resolve(budgets));
  const first = (await metrics.render()).body;
  assertStringIncludes(first, 'gateway_budget_used_ratio{tenant="tnt_a",key="key_a"} 0.95');
  assertStringIncludes(first, 'gateway_budget_used_ratio{tenant="tnt_a",key=""} 0.5');
  // A budget no longer among the most used drops out at the next scrape.
  budgets = [{ tenantId: "tnt_b", apiKeyId: "key_b", usedRatio: 1 }];
  const second = (await metrics.render()).body;
  assertStringIncludes(second, 'gateway_budget_used_ratio{tenant="tnt_b",key="key_b"} 1');
  assertEquals(second.includes('tenant="tnt_a"'), false);
});
