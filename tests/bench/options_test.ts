import { assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { parseBenchOptions } from "./options.ts";

Deno.test("the benchmark runs 3 rounds of 5 s after a 3 s warm-up by default", () => {
  assertEquals(parseBenchOptions([], {}), {
    durationSeconds: 5,
    rounds: 3,
    warmupSeconds: 3,
    json: false,
    stack: "embedded",
    baseline: "751656d",
    soakSeconds: null,
    profileDir: null,
  });
});

Deno.test("flags win over the environment", () => {
  const options = parseBenchOptions(["--duration=2s", "--json", "--stack=shared"], {
    BENCH_DURATION: "9",
    BENCH_ROUNDS: "4",
    BENCH_STACK: "embedded",
  });
  assertEquals(options, {
    durationSeconds: 2,
    rounds: 4,
    warmupSeconds: 3,
    json: true,
    stack: "shared",
    baseline: "751656d",
    soakSeconds: null,
    profileDir: null,
  });
});

Deno.test("the baseline is a git ref from the flag or BENCH_BASELINE, and none turns it off", () => {
  assertEquals(parseBenchOptions(["--baseline=v1.2"], {}).baseline, "v1.2");
  assertEquals(parseBenchOptions([], { BENCH_BASELINE: "main~3" }).baseline, "main~3");
  assertEquals(
    parseBenchOptions(["--baseline=abc1234"], { BENCH_BASELINE: "none" }).baseline,
    "abc1234",
  );
  assertEquals(
    parseBenchOptions(["--baseline=none"], { BENCH_BASELINE: "abc1234" }).baseline,
    null,
  );
  assertEquals(parseBenchOptions([], { BENCH_BASELINE: "none" }).baseline, null);
});

Deno.test("a baseline git could read as an option, or blank, is refused", () => {
  for (const bad of ["--baseline=--output=x", "--baseline=", "--baseline=two words"]) {
    assertMatch(
      assertThrows(() => parseBenchOptions([bad], {})).message,
      /'baseline' must be a git ref \(a commit, tag or branch\) or none: current value is/,
    );
  }
});

Deno.test("a bad duration or an unknown flag is refused with a message", () => {
  const error = assertThrows(() => parseBenchOptions(["--rounds=0"], {}));
  assertMatch(error.message, /'rounds' must be a whole number from 1 to 20: current value is '0'/);
  assertThrows(() => parseBenchOptions(["--duration=1.5s"], {}));
  assertThrows(() => parseBenchOptions(["--connections=9"], {}));
  assertMatch(
    assertThrows(() => parseBenchOptions(["--stack=cloud"], {})).message,
    /'stack' must be embedded, shared or shared-redis/,
  );
});

Deno.test("shared-redis is the shared stack with reservations held in Redis", () => {
  assertEquals(parseBenchOptions(["--stack=shared-redis"], {}).stack, "shared-redis");
  assertEquals(parseBenchOptions([], { BENCH_STACK: "shared-redis" }).stack, "shared-redis");
});

Deno.test("the soak's length is whole minutes or seconds, from the flag or BENCH_SOAK", () => {
  assertEquals(parseBenchOptions(["--soak=5m"], {}).soakSeconds, 300);
  assertEquals(parseBenchOptions(["--soak=150s"], {}).soakSeconds, 150);
  assertEquals(parseBenchOptions([], { BENCH_SOAK: "600" }).soakSeconds, 600);
  assertEquals(parseBenchOptions(["--soak=2m"], { BENCH_SOAK: "10m" }).soakSeconds, 120);
});

Deno.test("a soak too short to judge, too long or with another unit is refused", () => {
  for (const bad of ["--soak=1m", "--soak=119s", "--soak=241m", "--soak=1h", "--soak=2.5m"]) {
    assertMatch(
      assertThrows(() => parseBenchOptions([bad], {})).message,
      /'soak' must be a duration from 2m to 240m in whole minutes \(5m\) or seconds \(300s\)/,
    );
  }
});

Deno.test("the profile folder comes from the flag or BENCH_PROFILE, and not with the soak", () => {
  assertEquals(parseBenchOptions(["--profile=/tmp/p"], {}).profileDir, "/tmp/p");
  assertEquals(parseBenchOptions([], { BENCH_PROFILE: "prof" }).profileDir, "prof");
  assertMatch(
    assertThrows(() => parseBenchOptions(["--profile="], {})).message,
    /'profile' must be a folder for the CPU profiles: current value is ''/,
  );
  assertMatch(
    assertThrows(() => parseBenchOptions(["--profile=/tmp/p", "--soak=5m"], {})).message,
    /'profile' follows the rounds, which 'soak' replaces: current values are '\/tmp\/p' and '5m'/,
  );
});
