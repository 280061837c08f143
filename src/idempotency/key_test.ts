import { assert, assertEquals, assertNotEquals, assertThrows } from "../../tests/assert.ts";
import { HttpError } from "../core/mod.ts";
import { fingerprintOf, parseIdempotencyKey } from "./key.ts";

Deno.test("keys such as UUIDs, ULIDs and base64 are accepted as they are", () => {
  for (
    const key of [
      "5f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
      "01HZX3J9K2M4N6P8Q0R2S4T6V8",
      "stainless-node-retry-2b7e",
      "a+b/c==",
      "x".repeat(255),
    ]
  ) {
    assertEquals(parseIdempotencyKey(key), key);
  }
  assertEquals(parseIdempotencyKey(undefined), undefined, "no header: no idempotency");
});

Deno.test("an empty, overlong or non-ASCII key is a 400 naming the header", () => {
  for (const key of ["", "x".repeat(256), "has space", "tab\there", "clé", "new\nline"]) {
    const error = assertThrows(() => parseIdempotencyKey(key));
    assert(error instanceof HttpError);
    assertEquals([error.status, error.code], [400, "invalid_idempotency_key"]);
    assert(error.message.includes("Idempotency-Key"), error.message);
  }
});

Deno.test("the fingerprint tells apart the method, the path, the query and the body", () => {
  const body = new TextEncoder().encode('{"model":"m"}');
  const base = fingerprintOf("POST", "/v1/chat/completions", body);
  assertEquals(base, fingerprintOf("post", "/v1/chat/completions", body));
  assertEquals(base.length, 64, "SHA-256 in hex");
  assertNotEquals(base, fingerprintOf("PUT", "/v1/chat/completions", body));
  assertNotEquals(base, fingerprintOf("POST", "/v1/completions", body));
  assertNotEquals(base, fingerprintOf("POST", "/v1/chat/completions?x=1", body));
  assertNotEquals(
    base,
    fingerprintOf("POST", "/v1/chat/completions", new TextEncoder().encode('{"model":"n"}')),
  );
  // The path cannot run into the body: the line ends before the body starts.
  assertNotEquals(
    fingerprintOf("POST", "/a", new TextEncoder().encode("b")),
    fingerprintOf("POST", "/ab", new Uint8Array()),
  );
});
