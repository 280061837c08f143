import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { signRequest } from "../src/auth/sign_request.ts";
import { createDatabase } from "./databases.ts";
import { startGateway } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-signature-tests";
const MASTER_KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const BODY = JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Hi" }] });

async function signedKey(url: string) {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
  const tenant = await (await fetch(`${url}/internal/tenants`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "signed", balance_usd: 5 }),
  })).json();
  const response = await fetch(`${url}/internal/tenants/${tenant.id}/keys`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "signed", require_signature: true }),
  });
  assertEquals(response.status, 201);
  const key = await response.json();
  assertEquals(key.require_signature, true);
  assert(typeof key.signing_secret === "string" && key.signing_secret.startsWith("ss-"));
  return { key: key.key as string, secret: key.signing_secret as string };
}

async function chat(url: string, key: string, extra: Record<string, string>) {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...extra },
    body: BODY,
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("a key that requires signatures accepts signed requests and refuses the rest", async () => {
  await using gw = await startGateway({
    env: { ADMIN_TOKEN, SIGNING_MASTER_KEY: MASTER_KEY },
  });
  const { key, secret } = await signedKey(gw.url);
  const url = `${gw.url}/v1/chat/completions`;

  const good = await chat(
    gw.url,
    key,
    await signRequest({ secret, method: "POST", url, body: BODY }),
  );
  assertEquals(good.status, 200);

  const unsigned = await chat(gw.url, key, {});
  assertEquals(unsigned.status, 401);
  assertEquals(unsigned.body.error.code, "invalid_signature");

  const wrongSecret = await signRequest({ secret: "ss-wrong", method: "POST", url, body: BODY });
  assertEquals((await chat(gw.url, key, wrongSecret)).status, 401);

  const stale = await signRequest({
    secret,
    method: "POST",
    url,
    body: BODY,
    timestamp: Math.floor(Date.now() / 1000) - 3600,
  });
  assertEquals((await chat(gw.url, key, stale)).status, 401);

  const otherBody = await signRequest({ secret, method: "POST", url, body: "{}" });
  assertEquals((await chat(gw.url, key, otherBody)).status, 401);

  const once = await signRequest({ secret, method: "POST", url, body: BODY });
  assertEquals((await chat(gw.url, key, once)).status, 200);
  const replay = await chat(gw.url, key, once);
  assertEquals(replay.status, 401);
  assertStringIncludes(replay.body.error.message.toLowerCase(), "nonce");

  // Log lines are written in batches: wait for the last failure before reading them all.
  await gw.waitForRecord((r) => r.message === "signature_failed" && r.reason === "replayed_nonce");
  const failures = gw.records().filter((r) => r.message === "signature_failed");
  const reasons = failures.map((r) => r.reason);
  for (
    const reason of [
      "missing_headers",
      "bad_signature",
      "timestamp_out_of_window",
      "replayed_nonce",
    ]
  ) {
    assert(reasons.includes(reason), `signature_failed with reason ${reason}: ${reasons}`);
  }
  assert(failures.every((r) => r.level === "WARNING" && typeof r.trace_id === "string"));
  const output = gw.stdout().join("\n") + gw.stderr();
  assertEquals(output.includes(secret), false, "the signing secret never reaches a log line");
  assertEquals(output.includes(MASTER_KEY), false, "the master key never reaches a log line");
});

Deno.test("a nonce used on one instance is refused on another sharing Redis", async () => {
  const prefix = `test${crypto.randomUUID().slice(0, 8)}:`;
  await using db = await createDatabase();
  const env = {
    ADMIN_TOKEN,
    SIGNING_MASTER_KEY: MASTER_KEY,
    REDIS_URL: "redis://127.0.0.1:6379",
    REDIS_KEY_PREFIX: prefix,
    DATABASE_URL: db.url,
    // A loaded test machine must not turn a slow nonce check into a 503.
    REDIS_TIMEOUT_MS: "5000",
  };
  await using a = await startGateway({ env });
  await using b = await startGateway({ env });
  const { key, secret } = await signedKey(a.url);
  const sign = () =>
    signRequest({ secret, method: "POST", url: "/v1/chat/completions", body: BODY });
  const headers = await sign();
  assertEquals((await chat(a.url, key, headers)).status, 200);
  assertEquals((await chat(b.url, key, headers)).status, 401);
  assertEquals((await chat(b.url, key, await sign())).status, 200);
});

Deno.test("a signed key cannot be made without a master key", async () => {
  await using gw = await startGateway({ env: { ADMIN_TOKEN } });
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
  const tenant = await (await fetch(`${gw.url}/internal/tenants`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "t" }),
  })).json();
  const response = await fetch(`${gw.url}/internal/tenants/${tenant.id}/keys`, {
    method: "POST",
    headers,
    body: JSON.stringify({ require_signature: true }),
  });
  const body = await response.json();
  assertEquals(response.status, 400);
  assertStringIncludes(body.error.message, "SIGNING_MASTER_KEY");
});
