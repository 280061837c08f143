import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../tests/assert.ts";
import { delay, eventually, RawServer, serve, testClient } from "./_http1_testing.ts";

const encoder = new TextEncoder();

Deno.test("a JSON answer with a content-length arrives whole and frees its connection", async () => {
  await using server = serve(() => Response.json({ id: "chatcmpl-1" }, { status: 201 }));
  using client = testClient();
  const response = await client.fetch(server.url("/v1/chat/completions"), { method: "POST" });
  assertEquals(response.status, 201);
  assertEquals(response.statusText, "Created");
  assertEquals(response.headers.get("Content-Type"), "application/json");
  assertEquals(client.idleConnections, 1);
  assertEquals(await response.json(), { id: "chatcmpl-1" });
});

Deno.test("a chunked stream yields each chunk before the upstream sends the next", async () => {
  let sendSecond!: () => void;
  const secondMayGo = new Promise<void>((resolve) => sendSecond = resolve);
  await using server = serve(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(encoder.encode("data: one\n\n"));
          await secondMayGo;
          controller.enqueue(encoder.encode("data: two\n\n"));
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  using client = testClient();
  const response = await client.fetch(server.url());
  assertEquals(response.headers.get("transfer-encoding"), "chunked");
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  assertEquals(decoder.decode((await reader.read()).value), "data: one\n\n");
  sendSecond();
  let rest = "";
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    rest += decoder.decode(chunk.value);
  }
  assertEquals(rest, "data: two\n\n");
  assertEquals(client.idleConnections, 1);
});

Deno.test("sequential requests share one keep-alive connection", async () => {
  await using server = serve(async (request) => new Response(await request.text()));
  using client = testClient();
  for (const body of ["a", "b", "c", "d"]) {
    const response = await client.fetch(server.url(), { method: "POST", body });
    assertEquals(await response.text(), body);
  }
  assertEquals(server.ports.size, 1);
  assertEquals(client.idleConnections, 1);
});

Deno.test("an answer with `connection: close` or from HTTP/1.0 is not reused", async () => {
  await using server = new RawServer(async (conn, index) => {
    await conn.readRequest();
    await conn.write(
      index === 0
        ? "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
        : "HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", // 1.0 closes unless told otherwise
    );
    await conn.closedByClient();
  });
  using client = testClient();
  for (let i = 0; i < 3; i++) assertEquals(await (await client.fetch(server.url())).text(), "ok");
  assertEquals(server.accepted, 3);
  assertEquals(client.idleConnections, 0);
});

Deno.test("a body with neither length nor chunks is read until the upstream closes", async () => {
  await using server = new RawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nhello ");
    await delay(20);
    await conn.write("world");
  });
  using client = testClient();
  const response = await client.fetch(server.url());
  assertEquals(await response.text(), "hello world");
  assertEquals(client.idleConnections, 0);
});

Deno.test("204 and HEAD answers have no body and keep the connection usable", async () => {
  await using server = serve((request) =>
    request.url.endsWith("/none") ? new Response(null, { status: 204 }) : Response.json({ a: 1 })
  );
  using client = testClient();
  const none = await client.fetch(server.url("/none"), { method: "DELETE" });
  assertEquals(none.status, 204);
  assertEquals(none.body, null);
  const head = await client.fetch(server.url("/json"), { method: "HEAD" });
  assertEquals(head.status, 200);
  assertEquals(head.headers.get("content-length"), "7");
  assertEquals(await head.text(), "");
  assertEquals(await (await client.fetch(server.url("/json"))).json(), { a: 1 });
  assertEquals(server.ports.size, 1);
});

Deno.test("interim 1xx answers are skipped", async () => {
  await using server = new RawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n");
    await conn.write("HTTP/1.1 200 OK\r\nx-a: 1\r\nX-A: 2\r\ncontent-length: 2\r\n\r\nok");
  });
  using client = testClient();
  const response = await client.fetch(server.url());
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("x-a"), "1, 2");
  assertEquals(response.headers.has("link"), false);
  assertEquals(await response.text(), "ok");
});

Deno.test("malformed answers fail with a TypeError", async (t) => {
  const cases: Record<string, string> = {
    "a status line that is not HTTP": "HTTP/2 200 OK\r\n\r\n",
    "a status code that is not three digits": "HTTP/1.1 2OO OK\r\ncontent-length: 0\r\n\r\n",
    "a header line without a colon": "HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
    "conflicting content-lengths":
      "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
    "a header section over 64 KiB": `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(70_000)}\r\n\r\n`,
    "nothing at all": "",
  };
  for (const [name, answer] of Object.entries(cases)) {
    await t.step(name, async () => {
      await using server = new RawServer(async (conn) => {
        await conn.readRequest();
        await conn.write(answer);
      });
      using client = testClient();
      const error = await assertRejects(() => client.fetch(server.url()));
      assert(error instanceof TypeError, String(error));
    });
  }
});

Deno.test("a bad chunk size fails the body read with a TypeError", async () => {
  await using server = new RawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n");
    await conn.closedByClient();
  });
  using client = testClient();
  const response = await client.fetch(server.url());
  const error = await assertRejects(() => response.text());
  assert(error instanceof TypeError);
  assertStringIncludes(error.message, "chunk size");
  assertEquals(client.idleConnections, 0);
});

Deno.test("chunk extensions and trailers are dropped, across any split of the bytes", async () => {
  const answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;name=value\r\nhello\r\n1 \r\n \r\nA\r\nworld 1234\r\n0\r\nx-trailer: 1\r\n\r\n";
  await using server = new RawServer(async (conn) => {
    while (await conn.readRequest()) {
      for (const byte of encoder.encode(answer)) await conn.write(new Uint8Array([byte]));
    }
  });
  using client = testClient();
  assertEquals(await (await client.fetch(server.url())).text(), "hello world 1234");
  assertEquals(client.idleConnections, 1);
  assertEquals(await (await client.fetch(server.url())).text(), "hello world 1234");
  assertEquals(server.accepted, 1);
});

Deno.test("an aborted signal rejects at once with its reason", async () => {
  using client = testClient();
  const reason = new Error("gone");
  const error = await assertRejects(() =>
    client.fetch("http://127.0.0.1:1/", { signal: AbortSignal.abort(reason) })
  );
  assertEquals(error, reason);
});

Deno.test("aborting while connecting (a TLS handshake that never ends) rejects with the reason", async () => {
  await using server = new RawServer((conn) => conn.closedByClient());
  using client = testClient();
  const controller = new AbortController();
  const reason = new DOMException("client went away", "AbortError");
  setTimeout(() => controller.abort(reason), 30);
  const url = `https://127.0.0.1:${server.port}/`;
  const error = await assertRejects(() => client.fetch(url, { signal: controller.signal }));
  assertEquals(error, reason);
});

/** A listener whose accept queue is full, so that a TCP connect to it hangs (on Linux). */
async function unreachable(): Promise<AsyncDisposable & { port: number }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const { port } = listener.addr;
  const fillers = [await Deno.connect({ port }), await Deno.connect({ port })];
  return {
    port,
    [Symbol.asyncDispose]: async () => {
      for (const conn of fillers) conn.close();
      listener.close();
      await delay(0);
    },
  };
}

Deno.test("aborting while the TCP connect hangs rejects with the reason", async () => {
  await using upstream = await unreachable();
  using client = testClient();
  const reason = new DOMException("client went away", "AbortError");
  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), 30);
  const url = `http://127.0.0.1:${upstream.port}/`;
  assertEquals(await assertRejects(() => client.fetch(url, { signal: controller.signal })), reason);
});

Deno.test("a connect timeout rejects with a TypeError that says so, TCP or TLS", async () => {
  await using upstream = await unreachable();
  await using server = new RawServer((conn) => conn.closedByClient());
  using client = testClient({ connectTimeoutMs: 30 });
  for (const url of [`http://127.0.0.1:${upstream.port}/`, `https://127.0.0.1:${server.port}/`]) {
    const error = await assertRejects(() => client.fetch(url));
    assert(error instanceof TypeError);
    assertStringIncludes(error.message, "longer than 30 ms");
  }
});

Deno.test("aborting while the request is being written rejects with the reason", async () => {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  await using server = new RawServer(() => finished); // never reads, so writes stall
  using client = testClient();
  const controller = new AbortController();
  const reason = new Error("stop");
  setTimeout(() => controller.abort(reason), 50);
  const body = new Uint8Array(16 << 20); // several times what loopback buffers take
  const init = { method: "POST", body, signal: controller.signal };
  assertEquals(await assertRejects(() => client.fetch(server.url(), init)), reason);
  finish();
});

Deno.test("a deadline passing while waiting for the head rejects with a TimeoutError", async () => {
  let closed = false;
  await using server = new RawServer(async (conn) => {
    await conn.readRequest();
    await conn.closedByClient();
    closed = true;
  });
  using client = testClient();
  const error = await assertRejects(() =>
    client.fetch(server.url(), { signal: AbortSignal.timeout(30) })
  );
  assert(error instanceof DOMException && error.name === "TimeoutError", String(error));
  await eventually(() => closed, "the connection was closed");
});

Deno.test("aborting mid-body errors the stream with the reason and drops the connection", async () => {
  let closed = false;
  await using server = new RawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n");
    await conn.closedByClient();
    closed = true;
  });
  using client = testClient();
  const controller = new AbortController();
  const response = await client.fetch(server.url(), { signal: controller.signal });
  const reader = response.body!.getReader();
  assertEquals(new TextDecoder().decode((await reader.read()).value), "data: ");
  const pending = reader.read();
  const reason = new DOMException("deadline", "TimeoutError");
  controller.abort(reason);
  assertEquals(await assertRejects(() => pending), reason);
  await eventually(() => closed, "the connection was closed");
  assertEquals(client.idleConnections, 0);
});

Deno.test("canceling a body closes its connection", async () => {
  let closed = false;
  await using server = new RawServer(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
    await conn.closedByClient();
    closed = true;
  });
  using client = testClient();
  const response = await client.fetch(server.url());
  await response.body!.cancel();
  await eventually(() => closed, "the connection was closed");
  assertEquals(client.idleConnections, 0);
});

Deno.test("the abort listener is removed once the exchange ends", async () => {
  await using server = serve(() => new Response("ok"));
  using client = testClient();
  const signal = new AbortController().signal;
  let listeners = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => (listeners++, add(...args));
  signal.removeEventListener = (
    ...args: Parameters<typeof remove>
  ) => (listeners--, remove(...args));
  await (await client.fetch(server.url(), { signal })).text();
  assertEquals(listeners, 0);
});

Deno.test("a pooled connection the upstream closed while idle is retried once, transparently", async () => {
  await using server = new RawServer(async (conn, index) => {
    while (await conn.readRequest()) {
      await conn.write(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${index}`);
      if (index === 0) return; // closes the connection behind the client's back
    }
  });
  using client = testClient();
  assertEquals(await (await client.fetch(server.url())).text(), "0");
  assertEquals(client.idleConnections, 1);
  await delay(20);
  const retried = await client.fetch(server.url(), { method: "POST", body: "{}" });
  assertEquals(await retried.text(), "1");
  assertEquals(server.accepted, 2);
});

Deno.test("a 408 the upstream sent on an idle connection is not taken for the answer", async () => {
  await using server = new RawServer(async (conn, index) => {
    await conn.readRequest();
    if (index === 0) {
      await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na");
      await conn.write("HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\r\n");
    } else {
      await conn.write("HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n");
    }
  });
  using client = testClient();
  assertEquals(await (await client.fetch(server.url())).text(), "a");
  await delay(20);
  // Retried on a fresh connection, whose own 408 is the answer.
  assertEquals((await client.fetch(server.url())).status, 408);
  assertEquals(server.accepted, 2);
});

Deno.test("a fresh connection, or one that began answering, is never retried", async (t) => {
  await t.step("fresh", async () => {
    await using server = new RawServer(async (conn) => void await conn.readRequest());
    using client = testClient();
    assert(await assertRejects(() => client.fetch(server.url())) instanceof TypeError);
    assertEquals(server.accepted, 1);
  });
  await t.step("began answering", async () => {
    await using server = new RawServer(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na");
      await conn.readRequest();
      await conn.write("HTTP/1.1 200");
    });
    using client = testClient();
    await (await client.fetch(server.url())).text();
    assert(await assertRejects(() => client.fetch(server.url())) instanceof TypeError);
    assertEquals(server.accepted, 1);
  });
});

Deno.test("idle connections are closed after the idle timeout, and by close()", async () => {
  // The sweep's interval must run only while connections wait, or it would hold processes open.
  const intervals = new Set<unknown>();
  const { setInterval, clearInterval } = globalThis;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    const id = setInterval(...args);
    intervals.add(id);
    return id;
  }) as typeof setInterval;
  globalThis.clearInterval = (id) => (intervals.delete(id), clearInterval(id));
  try {
    await using server = serve(() => new Response("ok"));
    using client = testClient({ idleTimeoutMs: 30 });
    await (await client.fetch(server.url())).text();
    assertEquals([client.idleConnections, intervals.size], [1, 1]);
    await eventually(() => client.idleConnections === 0, "the sweep closed the connection");
    await eventually(() => intervals.size === 0, "the sweep stopped");
    await (await client.fetch(server.url())).text();
    assertEquals([client.idleConnections, intervals.size], [1, 1]);
    client.close();
    assertEquals([client.idleConnections, intervals.size], [0, 0]);
  } finally {
    Object.assign(globalThis, { setInterval, clearInterval });
  }
});

Deno.test("no more than maxIdlePerOrigin connections stay idle", async () => {
  let arrived = 0;
  let releaseAll!: () => void;
  const allArrived = new Promise<void>((resolve) => releaseAll = resolve);
  await using server = serve(async () => {
    if (++arrived === 3) releaseAll();
    await allArrived;
    return new Response("ok");
  });
  using client = testClient({ maxIdlePerOrigin: 1 });
  const answers = await Promise.all([1, 2, 3].map(() => client.fetch(server.url())));
  for (const answer of answers) await answer.text();
  assertEquals(server.ports.size, 3);
  assertEquals(client.idleConnections, 1);
});

Deno.test("1 MiB bodies travel both ways intact", async () => {
  const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) % 251);
  await using server = serve(async (request) => {
    const body = new Uint8Array(await request.arrayBuffer());
    if (request.url.endsWith("/chunked")) {
      return new Response(new Blob([body]).stream());
    }
    return new Response(body);
  });
  using client = testClient();
  for (const path of ["/length", "/chunked"]) {
    const response = await client.fetch(server.url(path), { method: "PUT", body: big.buffer });
    assertEquals(new Uint8Array(await response.arrayBuffer()), big);
  }
  assertEquals(server.ports.size, 1);
});

Deno.test("request headers reach the upstream with the right Host and length", async () => {
  await using server = serve(async (request) =>
    Response.json({ headers: Object.fromEntries(request.headers), body: await request.text() })
  );
  using client = testClient();
  const response = await client.fetch(server.url("/v1/models?limit=2"), {
    method: "post",
    headers: [["Authorization", "Bearer sk-test"], ["X-Trace-Id", "t-1"]],
    body: "héllo",
  });
  const { headers, body } = await response.json();
  assertEquals(body, "héllo");
  assertEquals(headers, {
    "authorization": "Bearer sk-test",
    "content-length": "6",
    "content-type": "text/plain;charset=UTF-8",
    "host": `127.0.0.1:${server.port}`,
    "x-trace-id": "t-1",
  });
});

Deno.test("the request goes out as one HTTP/1.1 head, then its body", async () => {
  let seen = "";
  await using server = new RawServer(async (conn) => {
    const request = await conn.readRequest();
    seen = `${request!.head}\r\n\r\n${new TextDecoder().decode(request!.body)}`;
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  });
  using client = testClient();
  await client.fetch(server.url("/v1/chat/completions?x=1#fragment"), {
    method: "POST",
    headers: new Headers({ "content-type": "application/json", "x-custom": "a" }),
    body: encoder.encode("{}"),
  });
  assertEquals(
    seen,
    `POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\n` +
      "content-type: application/json\r\nx-custom: a\r\ncontent-length: 2\r\n\r\n{}",
  );
});

Deno.test("a 40 KiB header section fits", async () => {
  await using server = new RawServer(async (conn) => {
    await conn.readRequest();
    await conn.write(
      `HTTP/1.1 200 OK\r\nx-big: ${"b".repeat(40_000)}\r\ncontent-length: 2\r\n\r\nok`,
    );
  });
  using client = testClient();
  const response = await client.fetch(server.url());
  assertEquals(response.headers.get("x-big")?.length, 40_000);
  assertEquals(await response.text(), "ok");
});

Deno.test("requests the client cannot send fail with a TypeError", async (t) => {
  using client = testClient();
  const cases: Record<string, [string, RequestInit]> = {
    "a header value with CRLF": ["http://127.0.0.1:1/", { headers: { "x-a": "1\r\nx-b: 2" } }],
    "a stream body": ["http://127.0.0.1:1/", { method: "POST", body: new Blob(["a"]).stream() }],
    "a GET with a body": ["http://127.0.0.1:1/", { body: "a" }],
    "another scheme": ["ftp://127.0.0.1/", {}],
  };
  for (const [name, [url, init]] of Object.entries(cases)) {
    await t.step(name, async () => {
      assert(await assertRejects(() => client.fetch(url, init)) instanceof TypeError);
    });
  }
});

Deno.test("HTTPS works with a self-signed certificate given as a CA, and only then", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { success } = await new Deno.Command("openssl", {
      args: ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"]
        .concat(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1"])
        // rustls refuses a CA certificate (openssl's default) as the server's own.
        .concat(["-addext", "basicConstraints=critical,CA:FALSE"])
        .concat(["-keyout", `${dir}/k`, "-out", `${dir}/c`]),
      stdout: "null",
      stderr: "null",
    }).output();
    assert(success, "openssl made a certificate");
    const cert = await Deno.readTextFile(`${dir}/c`);
    await using server = serve(async (request) => new Response(await request.text()), {
      cert,
      key: await Deno.readTextFile(`${dir}/k`),
    });
    using client = testClient({ caCerts: [cert] });
    for (const host of ["localhost", "127.0.0.1", "localhost"]) {
      const url = `https://${host}:${server.port}/`;
      const response = await client.fetch(url, { method: "POST", body: host });
      assertEquals(await response.text(), host);
    }
    assertEquals(server.ports.size, 2); // one connection per origin
    using untrusting = testClient();
    const error = await assertRejects(() => untrusting.fetch(server.url()));
    assert(error instanceof TypeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
