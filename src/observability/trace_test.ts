import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { traceFromHeaders } from "./trace.ts";

Deno.test("a well-formed X-Trace-Id is kept as the trace id", () => {
  assertEquals(traceFromHeaders(new Headers({ "x-trace-id": "req-abc123" })).traceId, "req-abc123");
});

Deno.test("a missing or malformed X-Trace-Id gets a fresh req- id", () => {
  for (const bad of [undefined, "", "has space", "x".repeat(129), "<script>", "-leading"]) {
    const headers = new Headers(bad === undefined ? {} : { "x-trace-id": bad });
    assertMatch(traceFromHeaders(headers).traceId, /^req-[0-9a-f]{24}$/);
  }
});

Deno.test("made trace ids differ between requests", () => {
  const ids = new Set(Array.from({ length: 100 }, () => traceFromHeaders(new Headers()).traceId));
  assertEquals(ids.size, 100);
});

Deno.test("W3C traceparent names the trace id with the new parent span passed on", () => {
  const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const trace = traceFromHeaders(new Headers({ traceparent: incoming }));
  assertMatch(trace.traceparent!, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  assert(trace.traceparent !== incoming);
  const span = trace.traceparent!.split("-")[2];
  assertEquals(trace.traceId, `4bf92f3577b34da6a3ce929d0e0e4736-${span}`);
  const again = traceFromHeaders(new Headers({ traceparent: incoming }));
  assert(again.traceId !== trace.traceId, "two requests of one W3C trace get distinct ids");
});

Deno.test("an invalid traceparent is ignored", () => {
  const trace = traceFromHeaders(new Headers({ traceparent: "00-" + "0".repeat(32) + "-x-01" }));
  assertEquals(trace.traceparent, undefined);
  assertMatch(trace.traceId, /^req-/);
});
