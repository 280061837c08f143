import { assertEquals, assertMatch } from "../../tests/assert.ts";
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
