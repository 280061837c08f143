import { assertEquals } from "../../tests/assert.ts";
import { encodeRequest, findHeadEnd, parseHead } from "./_http1_head.ts";

Deno.test("the Host header leaves out default ports and may be overridden", () => {
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assertEquals(
    decode(encodeRequest("GET", new URL("https://api.example.com:443/v1/models"), undefined)),
    "GET /v1/models HTTP/1.1\r\nhost: api.example.com\r\n\r\n",
  );
  assertEquals(
    decode(encodeRequest("GET", new URL("http://[::1]:8080"), { headers: { Host: "other" } })),
    "GET / HTTP/1.1\r\nhost: other\r\n\r\n",
  );
  assertEquals(
    decode(encodeRequest("POST", new URL("http://a/"), { headers: { "Content-Length": "9" } })),
    "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n",
  );
});

Deno.test("heads are parsed per RFC 9112: folding, lists, framing and persistence", () => {
  // Heads are bytes: one char per byte, so "\xe9" below is a latin1 byte, as servers send it.
  const parse = (text: string) => parseHead(Uint8Array.from(text, (char) => char.charCodeAt(0)));
  const folded = parse("HTTP/1.1 200 OK\r\nx-a:  one\r\n\t two \r\ncontent-length: 5, 5");
  assertEquals(folded.headers, [["x-a", "one two"], ["content-length", "5, 5"]]);
  assertEquals([folded.contentLength, folded.keepAlive], [5, true]);
  const both = parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: gzip, chunked");
  assertEquals([both.chunked, both.contentLength, both.keepAlive], [true, -1, false]);
  const gzip = parse("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip");
  assertEquals([gzip.chunked, gzip.contentLength], [false, -1]);
  assertEquals(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive").keepAlive, true);
  assertEquals(parse("HTTP/1.0 200 OK").keepAlive, false);
  assertEquals(parse("HTTP/1.1 200 OK\r\nconnection: upgrade, close").keepAlive, false);
  assertEquals(parse("HTTP/1.1 404").statusText, "");
  assertEquals(parse("HTTP/1.1 200 OK\r\nx-b: caf\xe9").headers, [["x-b", "caf\xe9"]]);
});

Deno.test("the end of a head is found wherever it falls", () => {
  const alphabet = [13, 10, 13, 10, 65];
  for (let round = 0; round < 2_000; round++) {
    const bytes = Uint8Array.from({ length: 12 }, () => alphabet[Math.floor(Math.random() * 5)]);
    const expected = new TextDecoder().decode(bytes.subarray(2)).indexOf("\r\n\r\n");
    assertEquals(findHeadEnd(bytes, 2, 12), expected < 0 ? -1 : expected + 2, String(bytes));
  }
});
