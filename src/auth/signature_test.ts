import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { HttpError } from "../core/mod.ts";
import { MemoryNonceStore, type NonceStore, RedisNonceStore } from "./nonces.ts";
import { withTestRedis } from "./nonces_test_utils.ts";
import { generateSigningSecret } from "./secret_box.ts";
import {
  SignatureError,
  type SignatureFailure,
  SignatureVerifier,
  type SignedRequest,
} from "./signature.ts";
import { signRequest } from "./sign_request.ts";

const NOW_SECONDS = 1_767_225_600;
const KEY = { id: "key_1", signingSecret: generateSigningSecret() };
const encoder = new TextEncoder();

function verifier(
  options: { nonces?: NonceStore; now?: number; windowSeconds?: number } = {},
): SignatureVerifier {
  return new SignatureVerifier({
    nonces: options.nonces ?? new MemoryNonceStore(),
    windowSeconds: options.windowSeconds,
    now: () => (options.now ?? NOW_SECONDS) * 1000,
  });
}

/** A request as the gateway sees it: path and query from the URL it parsed, the raw body. */
function received(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): SignedRequest {
  const parsed = new URL(url);
  return {
    method: init.method ?? "POST",
    pathAndQuery: parsed.pathname + parsed.search,
    headers: new Headers(init.headers),
    body: encoder.encode(init.body ?? ""),
  };
}

const URL_ = "https://gateway.example.com/v1/chat/completions?tag=demo";
const BODY = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}';

/** A correctly signed request, with optional changes to what is sent after signing. */
async function signed(
  overrides: {
    secret?: string;
    timestamp?: number;
    nonce?: string;
    headers?: Record<string, string | null>;
    sentUrl?: string;
    sentMethod?: string;
    sentBody?: string;
  } = {},
): Promise<SignedRequest> {
  const headers: Record<string, string> = await signRequest({
    secret: overrides.secret ?? KEY.signingSecret,
    method: "POST",
    url: URL_,
    body: BODY,
    timestamp: overrides.timestamp ?? NOW_SECONDS,
    nonce: overrides.nonce,
  });
  for (const [name, value] of Object.entries(overrides.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  return received(overrides.sentUrl ?? URL_, {
    method: overrides.sentMethod ?? "POST",
    headers,
    body: overrides.sentBody ?? BODY,
  });
}

async function refusal(
  verifying: SignatureVerifier,
  request: SignedRequest,
  key = KEY,
): Promise<SignatureError> {
  const error = await assertRejects(() => verifying.verify(request, key));
  assert(error instanceof SignatureError, `expected a SignatureError, got ${error}`);
  return error;
}

Deno.test("a request signed with the client helper is accepted", async () => {
  await verifier().verify(await signed(), KEY);
});

Deno.test("a GET with no body and a query string is accepted", async () => {
  const url = "https://gateway.example.com/v1/models?limit=10&order=desc";
  const headers = await signRequest({
    secret: KEY.signingSecret,
    method: "GET",
    url,
    timestamp: NOW_SECONDS,
  });
  await verifier().verify(received(url, { method: "GET", headers }), KEY);
});

Deno.test("a query with spaces and non-ASCII characters is signed as it goes on the wire", async () => {
  const url = "https://gateway.example.com/v1/files?name=a b&city=Zürich&q=50%";
  const request = new Request(url);
  const headers = await signRequest({
    secret: KEY.signingSecret,
    method: "GET",
    url,
    timestamp: NOW_SECONDS,
  });
  await verifier().verify(received(request.url, { method: request.method, headers }), KEY);
});

Deno.test("an uppercase hex signature is accepted too", async () => {
  const request = await signed();
  request.headers.set("x-signature", request.headers.get("x-signature")!.toUpperCase());
  await verifier().verify(request, KEY);
});

Deno.test("each problem with a signed request is refused with 401 and its own reason", async () => {
  const hour = 3600;
  const cases: [string, Promise<SignedRequest>, SignatureFailure][] = [
    ["no X-Timestamp", signed({ headers: { "x-timestamp": null } }), "missing_headers"],
    ["no X-Nonce", signed({ headers: { "x-nonce": null } }), "missing_headers"],
    ["no X-Signature", signed({ headers: { "x-signature": null } }), "missing_headers"],
    ["an empty X-Nonce", signed({ headers: { "x-nonce": "" } }), "missing_headers"],
    ["a negative timestamp", signed({ headers: { "x-timestamp": "-1" } }), "malformed_timestamp"],
    [
      "a fractional timestamp",
      signed({ headers: { "x-timestamp": "1.5" } }),
      "malformed_timestamp",
    ],
    [
      "a timestamp in ms",
      signed({ headers: { "x-timestamp": "1767225600000" } }),
      "malformed_timestamp",
    ],
    [
      "a date as timestamp",
      signed({ headers: { "x-timestamp": "2026-01-01" } }),
      "malformed_timestamp",
    ],
    ["a short nonce", signed({ headers: { "x-nonce": "abc" } }), "malformed_nonce"],
    [
      "a nonce with dots",
      signed({ headers: { "x-nonce": "a.b.c.d.e.f.g.h.i" } }),
      "malformed_nonce",
    ],
    ["a short signature", signed({ headers: { "x-signature": "abcd" } }), "malformed_signature"],
    [
      "a base64 signature",
      signed({ headers: { "x-signature": "z".repeat(64) } }),
      "malformed_signature",
    ],
    ["an hour-old timestamp", signed({ timestamp: NOW_SECONDS - hour }), "timestamp_out_of_window"],
    ["a future timestamp", signed({ timestamp: NOW_SECONDS + hour }), "timestamp_out_of_window"],
    ["another secret", signed({ secret: generateSigningSecret() }), "bad_signature"],
    ["a changed body", signed({ sentBody: BODY.replace("Hello", "Hellp") }), "bad_signature"],
    ["a changed path", signed({ sentUrl: URL_.replace("chat/", "") }), "bad_signature"],
    ["a changed query", signed({ sentUrl: URL_ + "&x=1" }), "bad_signature"],
    ["a changed method", signed({ sentMethod: "PUT" }), "bad_signature"],
    [
      "a changed timestamp",
      signed({ headers: { "x-timestamp": String(NOW_SECONDS + 1) } }),
      "bad_signature",
    ],
  ];
  for (const [what, request, reason] of cases) {
    const error = await refusal(verifier(), await request);
    assertEquals(error.reason, reason, what);
    assert(error instanceof HttpError, what);
    assertEquals(
      [error.status, error.type, error.code],
      [401, "authentication_error", "invalid_signature"],
      what,
    );
  }
});

Deno.test("a replayed request is refused, and a refused one does not use up its nonce", async () => {
  const verifying = verifier();
  const nonce = "replay-test-nonce-0001";
  const wrong = await refusal(verifying, await signed({ nonce, sentBody: "{}" }));
  assertEquals(wrong.reason, "bad_signature");
  await verifying.verify(await signed({ nonce }), KEY);
  assertEquals((await refusal(verifying, await signed({ nonce }))).reason, "replayed_nonce");
});

Deno.test("a nonce used by one key can still be used by another key", async () => {
  const verifying = verifier();
  const other = { id: "key_2", signingSecret: generateSigningSecret() };
  const nonce = "shared-nonce-000000001";
  await verifying.verify(await signed({ nonce }), KEY);
  await verifying.verify(await signed({ nonce, secret: other.signingSecret }), other);
});

Deno.test("timestamps up to the window away are accepted, either way, and no further", async () => {
  for (const window of [300, 60]) {
    const verifying = new SignatureVerifier({
      nonces: new MemoryNonceStore(),
      windowSeconds: window === 300 ? undefined : window,
      now: () => NOW_SECONDS * 1000,
    });
    for (const offset of [-window, window]) {
      await verifying.verify(await signed({ timestamp: NOW_SECONDS + offset }), KEY);
    }
    for (const offset of [-window - 1, window + 1]) {
      const error = await refusal(verifying, await signed({ timestamp: NOW_SECONDS + offset }));
      assertEquals(error.reason, "timestamp_out_of_window", `${window}: ${offset}`);
    }
  }
});

Deno.test("the server's clock decides the window, to the millisecond", async () => {
  const request = () => signed({ timestamp: NOW_SECONDS });
  await verifier({ now: NOW_SECONDS + 300 }).verify(await request(), KEY);
  const late = new SignatureVerifier({
    nonces: new MemoryNonceStore(),
    now: () => (NOW_SECONDS + 300) * 1000 + 1,
  });
  assertEquals((await refusal(late, await request())).reason, "timestamp_out_of_window");
});

Deno.test("nonces of 16 to 64 characters of A-Z, a-z, 0-9, _ and - are accepted", async () => {
  const verifying = verifier();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  for (const nonce of ["a".repeat(16), "b".repeat(64), alphabet.slice(0, 64), "-_-_-_-_-_-_-_-_"]) {
    await verifying.verify(await signed({ nonce }), KEY);
  }
  for (
    const nonce of ["c".repeat(15), "d".repeat(65), "e".repeat(20) + "=", "f".repeat(20) + "+"]
  ) {
    const request = await signed({ headers: { "x-nonce": nonce } });
    assertEquals((await refusal(verifying, request)).reason, "malformed_nonce", nonce);
  }
});

Deno.test("a nonce is remembered for as long as its timestamp stays in the window", async () => {
  const claims: number[] = [];
  const nonces: NonceStore = {
    claim(_keyId, _nonce, ttlSeconds) {
      claims.push(ttlSeconds);
      return Promise.resolve(true);
    },
  };
  const verifying = verifier({ nonces });
  for (const offset of [0, -300, 300]) {
    await verifying.verify(await signed({ timestamp: NOW_SECONDS + offset }), KEY);
  }
  // One window past the timestamp, plus a few seconds for clocks that disagree.
  assertEquals(claims, [305, 5, 605]);
});

Deno.test("a nonce store that fails refuses the request with the store's error", async () => {
  const failure = new Error("Redis did not answer");
  const nonces: NonceStore = { claim: () => Promise.reject(failure) };
  const request = await signed();
  const error = await assertRejects(() => verifier({ nonces }).verify(request, KEY));
  assertEquals(error, failure);
});

Deno.test("no refusal's message shows the signing secret or the expected signature", async () => {
  const correct = await signed();
  const expected = correct.headers.get("x-signature")!;
  const requests = [
    signed({ headers: { "x-signature": null } }),
    signed({ headers: { "x-timestamp": "soon" } }),
    signed({ headers: { "x-nonce": "?" } }),
    signed({ headers: { "x-signature": "0" } }),
    signed({ timestamp: NOW_SECONDS - 1000 }),
    signed({ headers: { "x-signature": "0".repeat(64) } }),
    signed({ sentBody: "" }),
  ];
  const verifying = verifier();
  await verifying.verify(correct, KEY);
  const replay = await refusal(verifying, correct);
  for (const request of requests) {
    const error = await refusal(verifying, await request);
    for (const text of [error.message, JSON.stringify(error.toBody()), String(error.stack)]) {
      for (const secret of [KEY.signingSecret, expected]) {
        assert(!text.includes(secret), `${error.reason} shows a secret: ${text}`);
      }
    }
  }
  assert(!replay.message.includes(KEY.signingSecret));
});

Deno.test("a window that is not a positive whole number of seconds is refused", () => {
  for (const windowSeconds of [0, -1, 1.5, Number.NaN]) {
    const error = assertThrows(() =>
      new SignatureVerifier({ nonces: new MemoryNonceStore(), windowSeconds })
    );
    assert(error instanceof RangeError, String(windowSeconds));
  }
});

Deno.test("a request replayed to another instance is refused there (shared Redis)", async () => {
  await withTestRedis(async (redis) => {
    const instances = await Promise.all([0, 1].map(async () =>
      verifier({
        nonces: new RedisNonceStore({ redis: await redis.connect(), prefix: redis.prefix }),
      })
    ));
    const request = await signed();
    await instances[0].verify(request, KEY);
    assertEquals((await refusal(instances[1], request)).reason, "replayed_nonce");
    assertEquals((await refusal(instances[0], request)).reason, "replayed_nonce");
  });
});

Deno.test("of one request sent to two instances at once, exactly one is accepted", async () => {
  await withTestRedis(async (redis) => {
    const instances = await Promise.all([0, 1].map(async () =>
      verifier({
        nonces: new RedisNonceStore({ redis: await redis.connect(), prefix: redis.prefix }),
      })
    ));
    const request = await signed();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => instances[i % 2].verify(request, KEY)),
    );
    assertEquals(outcomes.filter((outcome) => outcome.status === "fulfilled").length, 1);
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") {
        assertEquals((outcome.reason as SignatureError).reason, "replayed_nonce");
      }
    }
  });
});
