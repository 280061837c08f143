import { assertEquals, assertThrows } from "../assert.ts";
import { parseWrkOutput, wrkTimeToMs } from "./wrk_output.ts";

const THROUGHPUT = `Running 5s test @ http://127.0.0.1:41234/v1/chat/completions
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.43ms    1.20ms  40.12ms   91.00%
    Req/Sec     5.01k   312.45     5.60k    72.00%
  Latency Distribution
     50%    6.10ms
     75%  850.00us
     90%    1.02s
     99%    1.50m
  49876 requests in 5.00s, 21.30MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:   9975.20
Transfer/sec:      4.26MB
`;

const PLAIN = `Running 5s test @ http://127.0.0.1:41234/v1/chat/completions
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    95.12us   20.00us   1.20ms   90.00%
    Req/Sec    10.10k   400.00    10.80k    70.00%
  50500 requests in 1.00m, 20.10MB read
Requests/sec:  10100.00
Transfer/sec:      4.02MB
`;

Deno.test("wrk's times in us, ms, s and m read as milliseconds", () => {
  assertEquals(wrkTimeToMs("85.00us"), 0.085);
  assertEquals(wrkTimeToMs("1.23ms"), 1.23);
  assertEquals(wrkTimeToMs("2.00s"), 2000);
  assertEquals(wrkTimeToMs("1.50m"), 90_000);
  assertThrows(() => wrkTimeToMs("3.00ns"));
});

Deno.test("a wrk report with --latency gives rate, percentiles, non-2xx and socket errors", () => {
  assertEquals(parseWrkOutput(THROUGHPUT), {
    requests: 49876,
    durationSeconds: 5,
    requestsPerSecond: 9975.2,
    latencyMs: { p50: 6.1, p75: 0.85, p90: 1020, p99: 90_000 },
    non2xx: 12,
    socketErrors: { connect: 0, read: 2, write: 0, timeout: 7 },
  });
});

Deno.test("a clean wrk report without --latency has no percentiles and no errors", () => {
  const result = parseWrkOutput(PLAIN);
  assertEquals(result.latencyMs, undefined);
  assertEquals(result.non2xx, 0);
  assertEquals(result.durationSeconds, 60);
  assertEquals(result.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 });
});

Deno.test("output that is not a wrk report is refused", () => {
  assertThrows(() => parseWrkOutput("unable to connect to 127.0.0.1:1 Connection refused"));
});
