import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { type CallVerdict, CircuitBreaker, type CircuitChange } from "./breaker.ts";

function breaker(overrides: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  const clock = { now: 0 };
  const changes: CircuitChange[] = [];
  const circuit = new CircuitBreaker({
    failureRatio: 0.5,
    minCalls: 4,
    windowMs: 10_000,
    cooldownMs: 5_000,
    halfOpenProbes: 2,
    now: () => clock.now,
    onStateChange: (change) => changes.push(change),
    ...overrides,
  });
  const call = (verdict: CallVerdict) => {
    const permit = circuit.acquire();
    assert(permit, `a ${circuit.state} circuit refused a call`);
    permit.report(verdict);
  };
  return { circuit, clock, changes, call };
}

Deno.test("a circuit stays closed below the minimum number of calls, whatever fails", () => {
  const { circuit, call } = breaker();
  for (let i = 0; i < 3; i++) call("failure");
  assertEquals(circuit.state, "closed");
  call("failure");
  assertEquals(circuit.state, "open");
});

Deno.test("a circuit opens once the failed share reaches the ratio, and refuses calls", () => {
  const { circuit, changes, call } = breaker();
  call("success");
  call("success");
  call("failure");
  assertEquals(circuit.state, "closed", "1 of 3 failed, under the minimum of 4 calls");
  call("success");
  assertEquals(circuit.state, "closed", "1 of 4 failed, under 50 %");
  call("failure");
  assertEquals(circuit.state, "closed", "2 of 5 failed, under 50 %");
  call("failure");
  assertEquals(circuit.state, "open", "3 of 6 failed");
  assertEquals(changes, [{ from: "closed", to: "open", calls: 6, failures: 3 }]);
  assertEquals(circuit.available, false);
  assertEquals(circuit.acquire(), undefined);
});

Deno.test("client-caused errors and cancellations never count as failures", () => {
  const { circuit, call } = breaker();
  for (let i = 0; i < 20; i++) call("neutral");
  call("failure");
  call("failure");
  call("failure");
  assertEquals(circuit.state, "closed", "3 calls count, under the minimum of 4");
});

Deno.test("failures older than the window are forgotten", () => {
  const { circuit, clock, call } = breaker();
  call("failure");
  call("failure");
  call("failure");
  clock.now += 10_500;
  call("success");
  call("failure");
  assertEquals(circuit.state, "closed", "only 2 calls lie within the window");
});

Deno.test("after the cooldown probes go through half-open, and their successes close it", () => {
  const { circuit, clock, changes, call } = breaker();
  for (let i = 0; i < 4; i++) call("failure");
  clock.now += 4_999;
  assertEquals(circuit.acquire(), undefined, "still cooling down");
  assertEquals(circuit.state, "open");
  clock.now += 1;
  assertEquals(circuit.state, "half_open", "cooled down: the next call is a probe");
  assertEquals(changes.map((c) => c.to), ["open"], "which it becomes only when that call comes");
  const first = circuit.acquire();
  assert(first);
  assertEquals(circuit.state, "half_open");
  const second = circuit.acquire();
  assert(second);
  assertEquals(circuit.acquire(), undefined, "only two probes at once");
  first.report("success");
  first.report("success");
  assertEquals(circuit.state, "half_open", "one success of the two needed; repeats ignored");
  second.report("success");
  assertEquals(circuit.state, "closed");
  assertEquals(changes.map((c) => c.to), ["open", "half_open", "closed"]);
  call("failure");
  assertEquals(circuit.state, "closed", "a closed circuit starts from a clean window");
});

Deno.test("a failed probe opens the circuit again for a new cooldown", () => {
  const { circuit, clock, changes, call } = breaker();
  for (let i = 0; i < 4; i++) call("failure");
  clock.now += 5_000;
  const probe = circuit.acquire();
  assert(probe);
  probe.report("failure");
  assertEquals(circuit.state, "open");
  clock.now += 4_000;
  assertEquals(circuit.acquire(), undefined, "the cooldown starts again at the failed probe");
  clock.now += 1_000;
  assert(circuit.acquire());
  assertEquals(changes.map((c) => c.to), ["open", "half_open", "open", "half_open"]);
});

Deno.test("a neutral probe frees its slot without deciding anything", () => {
  const { circuit, clock, call } = breaker({ halfOpenProbes: 1 });
  for (let i = 0; i < 4; i++) call("failure");
  clock.now += 5_000;
  const probe = circuit.acquire();
  assert(probe);
  assertEquals(circuit.available, false);
  probe.report("neutral");
  assertEquals(circuit.state, "half_open");
  assertEquals(circuit.available, true);
});

Deno.test("a call let through before the circuit opened cannot close it", () => {
  const { circuit, clock, call } = breaker({ halfOpenProbes: 1 });
  const slow = circuit.acquire();
  assert(slow);
  for (let i = 0; i < 4; i++) call("failure");
  clock.now += 5_000;
  const probe = circuit.acquire();
  assert(probe);
  slow.report("success");
  assertEquals(circuit.state, "half_open");
  probe.report("success");
  assertEquals(circuit.state, "closed");
});

Deno.test("bad settings are refused with a message naming them", () => {
  for (
    const [name, overrides] of [["failureRatio", { failureRatio: 0 }], ["halfOpenProbes", {
      halfOpenProbes: 0,
    }]] as const
  ) {
    const error = assertThrows(() => breaker(overrides));
    assert(error instanceof RangeError && error.message.includes(`'${name}'`), error.message);
  }
});
