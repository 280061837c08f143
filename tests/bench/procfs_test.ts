import { assertEquals, assertThrows } from "../assert.ts";
import { parseCpuTicks, parseMachineTicks, parseMemory } from "./procfs.ts";

Deno.test("peak and current resident memory are read from /proc status", () => {
  const status = [
    "Name:\tdeno",
    "VmPeak:\t 9000000 kB",
    "VmHWM:\t  123456 kB",
    "VmRSS:\t  100000 kB",
    "Threads:\t9",
  ].join("\n");
  assertEquals(parseMemory(status), { peakKiB: 123456, rssKiB: 100000 });
  assertThrows(() => parseMemory("Name:\tdeno\n"));
});

Deno.test("CPU ticks are utime + stime even when the command name holds spaces", () => {
  const stat = "4242 (tokio (runtime) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 " +
    "731 269 0 0 20 0 9 0 12345 1000000 25000 18446744073709551615";
  assertEquals(parseCpuTicks(stat), 1000);
  assertThrows(() => parseCpuTicks("garbage"));
});

Deno.test("the machine's busy time leaves out idle and I/O wait", () => {
  const stat = "cpu  100 5 50 800 20 0 5 0 0 0\ncpu0 50 2 25 400 10 0 3 0 0 0\nintr 1 2 3\n";
  assertEquals(parseMachineTicks(stat), { busy: 160, total: 980 });
  assertThrows(() => parseMachineTicks("intr 1 2 3"));
});
