import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { healthcheck } from "./healthcheck.ts";

/** Runs the healthcheck against a fake fetch; returns the exit code, the lines and the URLs. */
async function probe(
  options: {
    args?: string[];
    env?: Record<string, string>;
    answer?: (url: string) => Response | Promise<Response>;
    timeoutMs?: number;
  },
) {
  const out: string[] = [];
  const err: string[] = [];
  const urls: string[] = [];
  const code = await healthcheck({
    args: options.args ?? [],
    env: options.env ?? { PORT: "8000" },
    fetch: (input, init) => {
      urls.push(String(input));
      assert(init?.signal, "every probe carries a timeout signal");
      return Promise.resolve(
        (options.answer ?? (() => Response.json({ status: "ready", checks: {} })))(String(input)),
      );
    },
    print: (line) => out.push(line),
    printError: (line) => err.push(line),
    timeoutMs: options.timeoutMs,
  });
  return { code, out, err, urls };
}

Deno.test("a ready gateway gives exit code 0 and one line naming what answered", async () => {
  const result = await probe({});
  assertEquals(result.code, 0);
  assertEquals(result.urls, ["http://127.0.0.1:8000/ready"]);
  assertEquals(result.err, []);
  assertEquals(result.out, [
    'healthy: GET http://127.0.0.1:8000/ready answered 200 {"status":"ready","checks":{}}',
  ]);
});

Deno.test("--live asks /health instead of /ready", async () => {
  const result = await probe({ args: ["--live"] });
  assertEquals([result.code, result.urls], [0, ["http://127.0.0.1:8000/health"]]);
});

Deno.test("a 503 from /ready is unhealthy, with the failing check on the line", async () => {
  const body = { status: "not_ready", checks: { database: "failing", redis: "ok" } };
  const result = await probe({ answer: () => Response.json(body, { status: 503 }) });
  assertEquals(result.code, 1);
  assertEquals(result.out, []);
  assertEquals(result.err, [
    `unhealthy: GET http://127.0.0.1:8000/ready answered 503 ${JSON.stringify(body)}`,
  ]);
});

Deno.test("the probe goes to loopback when the gateway binds every address", async () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{}, "http://127.0.0.1:8000/ready"],
    [{ HOST: "0.0.0.0", PORT: "9000" }, "http://127.0.0.1:9000/ready"],
    [{ HOST: "::", PORT: "9000" }, "http://[::1]:9000/ready"],
    [{ HOST: "[::]", PORT: "9000" }, "http://[::1]:9000/ready"],
    [{ HOST: "::1", PORT: "9000" }, "http://[::1]:9000/ready"],
    [{ HOST: "10.1.2.3", PORT: "" }, "http://10.1.2.3:8000/ready"],
  ];
  for (const [env, url] of cases) {
    assertEquals((await probe({ env })).urls, [url], JSON.stringify(env));
  }
});

Deno.test("a bad or unknowable PORT and a bad argument fail without a request", async () => {
  const cases: Array<[{ env?: Record<string, string>; args?: string[] }, RegExp]> = [
    [{ env: { PORT: "eighty" } }, /^unhealthy: PORT accepts a whole number/],
    [{ env: { PORT: "0" } }, /^unhealthy: PORT is 0/],
    [{ args: ["--liveness"] }, /^healthcheck: unknown argument '--liveness'; usage:/],
  ];
  for (const [options, pattern] of cases) {
    const result = await probe(options);
    assertEquals([result.code, result.urls, result.out], [1, [], []]);
    assertEquals(result.err.length, 1);
    assertMatch(result.err[0], pattern);
  }
});

Deno.test("a gateway that never answers is unhealthy once the timeout passes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  // Accepts the connection and says nothing.
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  try {
    const err: string[] = [];
    const code = await healthcheck({
      args: [],
      env: { PORT: String(port) },
      printError: (line) => err.push(line),
      timeoutMs: 200,
    });
    assertEquals(code, 1);
    assertEquals(err, [
      `unhealthy: GET http://127.0.0.1:${port}/ready failed: no answer within 200 ms`,
    ]);
  } finally {
    listener.close();
    for (const conn of accepted) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("a long or multi-line answer still prints as one short line", async () => {
  const result = await probe({
    answer: () => new Response("<html>\n" + "x".repeat(5000), { status: 502 }),
  });
  assertEquals(result.code, 1);
  assertEquals(result.err.length, 1);
  assert(!result.err[0].includes("\n"));
  assert(result.err[0].length < 400, `line of ${result.err[0].length} characters`);
});

Deno.test("a failed connection is reported by its innermost cause, without the URL twice", async () => {
  const err: string[] = [];
  const code = await healthcheck({
    args: [],
    env: { PORT: "8000" },
    fetch: () =>
      Promise.reject(
        new TypeError("fetch failed", {
          cause: new Error(
            "error sending request for url (http://127.0.0.1:8000/ready): tcp connect error: Connection refused",
          ),
        }),
      ),
    printError: (line) => err.push(line),
  });
  assertEquals([code, err], [1, [
    "unhealthy: GET http://127.0.0.1:8000/ready failed: tcp connect error: Connection refused",
  ]]);
});
