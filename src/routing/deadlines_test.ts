import { assert, assertEquals } from "../../tests/assert.ts";
import { Deadlines } from "./deadlines.ts";

Deno.test("a call past its deadline is aborted with a TimeoutError", async () => {
  const deadlines = new Deadlines({ tickMs: 5 });
  const scope = deadlines.open(20, new AbortController().signal);
  await new Promise((resolve) => scope.signal.addEventListener("abort", resolve));
  assertEquals((scope.signal.reason as DOMException).name, "TimeoutError");
  assertEquals(deadlines.size, 0);
});

Deno.test("a client that goes away aborts the call with its own reason", () => {
  const deadlines = new Deadlines({ tickMs: 5 });
  const client = new AbortController();
  const scope = deadlines.open(10_000, client.signal);
  client.abort(new Error("client gone"));
  assert(scope.signal.aborted);
  assertEquals((scope.signal.reason as Error).message, "client gone");
  scope.done();
  assertEquals(deadlines.size, 0);
});

Deno.test("a finished call is forgotten and never aborted", async () => {
  const deadlines = new Deadlines({ tickMs: 5 });
  const client = new AbortController();
  const scope = deadlines.open(10, client.signal);
  scope.done();
  await new Promise((resolve) => setTimeout(resolve, 30));
  client.abort();
  assert(!scope.signal.aborted);
  assertEquals(deadlines.size, 0);
});

Deno.test("an already aborted client signal gives an aborted scope", () => {
  const client = new AbortController();
  client.abort();
  const scope = new Deadlines().open(1000, client.signal);
  assert(scope.signal.aborted);
  scope.done();
});

Deno.test("a phase aborts its call when it outlasts its own shorter deadline", async () => {
  const deadlines = new Deadlines({ tickMs: 5 });
  const scope = deadlines.open(10_000, new AbortController().signal);
  deadlines.startPhase(scope.signal, "idle", 20);
  await new Promise((resolve) => scope.signal.addEventListener("abort", resolve));
  const reason = scope.signal.reason as DOMException;
  assertEquals(reason.name, "TimeoutError");
  assertEquals(reason.message, "The upstream stream stalled");
});

Deno.test("an ended phase leaves the call to its total deadline", async () => {
  const deadlines = new Deadlines({ tickMs: 5 });
  const scope = deadlines.open(10_000, new AbortController().signal);
  deadlines.startPhase(scope.signal, "first_byte", 10);
  deadlines.endPhase(scope.signal);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert(!scope.signal.aborted);
  scope.done();
  deadlines.startPhase(scope.signal, "idle", 1);
  assertEquals(deadlines.size, 0, "a finished call's phases are ignored");
});
