import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/assert.ts";
import { canonicalString, computeSignature } from "./signature.ts";
import { signRequest } from "./sign_request.ts";

// The worked example at the top of sign_request.ts, which the README quotes.
const WORKED_EXAMPLE = {
  secret: "ss-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  method: "POST",
  url: "https://gateway.example.com/v1/chat/completions?tag=demo",
  pathAndQuery: "/v1/chat/completions?tag=demo",
  timestamp: 1767225600,
  nonce: "3f9c2b7e4a1d4c8e9b0a",
  body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}',
  bodyHash: "3da6da474e7773516d1334115267c665022464a7d91afea642650d7a6d9fe937",
  signature: "16598819954196e3c022126285087b202976be12de86c0d01e189c86b199e8cf",
};

Deno.test("the worked example signs to the signature its comment shows", async () => {
  const { secret, method, url, timestamp, nonce, body } = WORKED_EXAMPLE;
  assertEquals(await signRequest({ secret, method, url, timestamp, nonce, body }), {
    "x-timestamp": "1767225600",
    "x-nonce": nonce,
    "x-signature": WORKED_EXAMPLE.signature,
  });
});

Deno.test("the server's canonical string and signature for the worked example are exact", () => {
  const { secret, method, pathAndQuery, timestamp, nonce, body, bodyHash } = WORKED_EXAMPLE;
  const canonical = canonicalString({
    method,
    pathAndQuery,
    timestamp: String(timestamp),
    nonce,
    body: new TextEncoder().encode(body),
  });
  assertEquals(
    canonical,
    "POST\n/v1/chat/completions?tag=demo\n1767225600\n3f9c2b7e4a1d4c8e9b0a\n" + bodyHash,
  );
  assertEquals(computeSignature(secret, canonical), WORKED_EXAMPLE.signature);
});

Deno.test("the comment at the top of sign_request.ts shows the worked example's values", async () => {
  const source = await Deno.readTextFile(new URL("./sign_request.ts", import.meta.url));
  const header = source.slice(0, source.indexOf("*/"));
  const { pathAndQuery, timestamp, nonce, bodyHash } = WORKED_EXAMPLE;
  for (const value of Object.values(WORKED_EXAMPLE)) assertStringIncludes(header, String(value));
  assertStringIncludes(
    header,
    ["POST", pathAndQuery, timestamp, nonce, bodyHash].join(String.raw`\n`),
  );
});

Deno.test("the client helper imports nothing, so it works when copied alone", async () => {
  const source = await Deno.readTextFile(new URL("./sign_request.ts", import.meta.url));
  assert(!/^\s*(import|export .* from)\b/m.test(source), "sign_request.ts has an import");
});

Deno.test("a path with its query signs the same as the full URL, and a URL object too", async () => {
  const { secret, timestamp, nonce, body } = WORKED_EXAMPLE;
  const common = { secret, method: "POST", timestamp, nonce, body };
  const full = await signRequest({ ...common, url: WORKED_EXAMPLE.url });
  assertEquals(await signRequest({ ...common, url: WORKED_EXAMPLE.pathAndQuery }), full);
  assertEquals(await signRequest({ ...common, url: new URL(WORKED_EXAMPLE.url) }), full);
  assertEquals(await signRequest({ ...common, url: `${WORKED_EXAMPLE.url}#fragment` }), full);
  assertEquals(await signRequest({ ...common, method: "post", url: WORKED_EXAMPLE.url }), full);
});

Deno.test("a body given as bytes signs the same as the same body as text", async () => {
  const { secret, method, url, timestamp, nonce, body } = WORKED_EXAMPLE;
  const bytes = new TextEncoder().encode(body);
  assertEquals(
    await signRequest({ secret, method, url, timestamp, nonce, body: bytes }),
    await signRequest({ secret, method, url, timestamp, nonce, body }),
  );
});

Deno.test("no body signs the same as an empty body", async () => {
  const input = { ...WORKED_EXAMPLE, method: "GET", body: undefined };
  assertEquals(await signRequest(input), await signRequest({ ...input, body: "" }));
  assertEquals(await signRequest(input), await signRequest({ ...input, body: new Uint8Array() }));
});

Deno.test("by default the timestamp is now and every request gets a fresh valid nonce", async () => {
  const input = { secret: WORKED_EXAMPLE.secret, method: "GET", url: "/v1/models" };
  const before = Math.floor(Date.now() / 1000);
  const first = await signRequest(input);
  const second = await signRequest(input);
  const timestamp = Number(first["x-timestamp"]);
  assert(timestamp >= before && timestamp <= Math.ceil(Date.now() / 1000), "timestamp is now");
  assertMatch(first["x-nonce"], /^[A-Za-z0-9_-]{16,64}$/);
  assertNotEquals(first["x-nonce"], second["x-nonce"]);
  assertMatch(first["x-signature"], /^[0-9a-f]{64}$/);
});

Deno.test("a nonce or timestamp the gateway would refuse is refused when signing", async () => {
  const input = { secret: WORKED_EXAMPLE.secret, method: "GET", url: "/v1/models" };
  for (const nonce of ["short", "x".repeat(65), "has spaces in it!!", "dots.are.not.allowed"]) {
    const error = await assertRejects(() => signRequest({ ...input, nonce }), nonce);
    assert(error instanceof RangeError, nonce);
  }
  for (const timestamp of [-1, 1.5, Number.NaN, 1767225600000 * 1e6]) {
    const error = await assertRejects(() => signRequest({ ...input, timestamp }), `${timestamp}`);
    assert(error instanceof RangeError, `${timestamp}`);
  }
});
