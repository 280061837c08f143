/**
 * @module
 * The least a gateway written in Deno can do, as the benchmark's reference for the direct rate:
 * read the request, forward it to the upstream with `fetch` (keep-alive), return the answer. No
 * authentication, limits, logs or metrics. `deno run --allow-net=127.0.0.1 floor_proxy.ts <port>
 * <upstream base URL>`; `/health` answers itself.
 */

const JSON_HEADERS = { "content-type": "application/json" };

/** Forwards one request to `upstream` (a base URL without a trailing slash). */
export async function forward(request: Request, upstream: string): Promise<Response> {
  const { pathname, search } = new URL(request.url);
  if (pathname === "/health") return new Response("ok");
  const answer = await fetch(`${upstream}${pathname}${search}`, {
    method: request.method,
    headers: { ...JSON_HEADERS, authorization: "Bearer floor" },
    body: request.method === "GET" ? undefined : await request.arrayBuffer(),
  });
  return new Response(await answer.arrayBuffer(), { status: answer.status, headers: JSON_HEADERS });
}

if (import.meta.main) {
  const [portArgument, upstream] = Deno.args;
  const port = Number(portArgument);
  if (!Number.isInteger(port) || port <= 0 || port > 65535 || !URL.canParse(upstream ?? "")) {
    console.error(
      `Cannot start the floor proxy as its arguments are not '<port> <upstream URL>': ${
        Deno.args.join(" ")
      }`,
    );
    Deno.exit(2);
  }
  Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    (request) => forward(request, upstream),
  );
}
