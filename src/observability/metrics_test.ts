import { assertMatch } from "../../tests/assert.ts";
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

Deno.test("upstream failures are counted by their class", async () => {
  const metrics = new GatewayMetrics();
  metrics.observeUpstream({ provider: "openai", model: "m", error: "timeout" }, 1.5);
  metrics.observeUpstream({ provider: "openai", model: "m" }, 0.2);
  const { body } = await metrics.render();
  assertMatch(
    body,
    /gateway_upstream_failures_total\{provider="openai",model="m",error="timeout"\} 1/,
  );
  assertMatch(
    body,
    /gateway_upstream_latency_seconds_count\{provider="openai",model="m",success="true"\} 1/,
  );
  assertMatch(
    body,
    /gateway_upstream_latency_seconds_count\{provider="openai",model="m",success="false"\} 1/,
  );
});
