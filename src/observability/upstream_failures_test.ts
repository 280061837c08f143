import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { withLogContext } from "./logging.ts";
import { MAX_DETAIL_CHARS, RecentUpstreamFailures } from "./upstream_failures.ts";

const event = (model: string, detail?: string) => ({
  provider: "openai",
  deployment: "openai-eu",
  model,
  error_class: "server_error",
  upstream_status: 500,
  latency_ms: 12,
  detail,
});

Deno.test("recent failures keep only the newest ones, newest first", () => {
  const failures = new RecentUpstreamFailures(3);
  assertEquals(failures.list(), []);
  for (const model of ["a", "b"]) failures.record(event(model));
  assertEquals(failures.list().map((failure) => failure.model), ["b", "a"]);
  for (const model of ["c", "d", "e"]) failures.record(event(model));
  assertEquals(failures.list().map((failure) => failure.model), ["e", "d", "c"]);
  failures.record(event("f"));
  assertEquals(failures.list().map((failure) => failure.model), ["f", "e", "d"]);
});

Deno.test("a recorded failure carries the request's trace id and no secret", () => {
  const failures = new RecentUpstreamFailures();
  withLogContext(
    { trace_id: "req-abc" },
    () => failures.record(event("m", "echoed Bearer sk-live-0123456789abcdef")),
  );
  failures.record(event("n"));
  const [outside, inside] = failures.list();
  assertEquals(inside.traceId, "req-abc");
  assertEquals(inside.upstreamStatus, 500);
  assertEquals(inside.deployment, "openai-eu");
  assertEquals(inside.detail?.includes("sk-live"), false);
  assertEquals(outside.traceId, null);
  assertEquals(outside.detail, null);
});

Deno.test("a long detail is cut, and the list is a copy", () => {
  const failures = new RecentUpstreamFailures(2);
  failures.record(event("m", "x".repeat(5000)));
  const [failure] = failures.list();
  assertEquals(failure.detail?.length, MAX_DETAIL_CHARS);
  failure.model = "changed";
  assertEquals(failures.list()[0].model, "m");
  const error = assertThrows(() => new RecentUpstreamFailures(0));
  assertEquals(error instanceof RangeError, true);
});
