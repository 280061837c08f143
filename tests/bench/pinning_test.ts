import { assertEquals, assertMatch } from "../assert.ts";
import { pinnedCommand, planPinning } from "./pinning.ts";

Deno.test("on two CPUs the targets get CPU 0 and the load CPU 1", () => {
  const pinning = planPinning(2, true);
  assertEquals([pinning.targetCpus, pinning.loadCpus], ["0", "1"]);
  assertMatch(pinning.description, /targets .* on CPU 0, mock upstreams, wrk .* on CPU 1$/);
});

Deno.test("on more CPUs the load gets all but CPU 0", () => {
  assertEquals(planPinning(8, true).loadCpus, "1-7");
});

Deno.test("one CPU or no taskset pins nothing and says so", () => {
  const single = planPinning(1, true);
  assertEquals([single.targetCpus, single.loadCpus], [null, null]);
  assertMatch(single.description, /^not pinned: 1 CPU/);
  assertMatch(planPinning(4, false).description, /^not pinned: taskset is not installed/);
});

Deno.test("a pinned command runs through taskset, an unpinned one as it is", () => {
  assertEquals(pinnedCommand("1", "wrk", ["-c1", "http://x"]), [
    "taskset",
    ["-c", "1", "wrk", "-c1", "http://x"],
  ]);
  assertEquals(pinnedCommand(null, "wrk", ["-c1"]), ["wrk", ["-c1"]]);
});
