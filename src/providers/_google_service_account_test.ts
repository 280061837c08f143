import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { createServiceAccountKey, startFakeGemini } from "../../tests/fake_gemini.ts";
import { UpstreamError } from "./errors.ts";
import { ServiceAccountTokenSource } from "./_google_service_account.ts";

const MINTED = "ya29.minted-for-the-service-account";

Deno.test("a service account's key is exchanged for a token, kept until shortly before it expires", async () => {
  const account = await createServiceAccountKey();
  await using google = startFakeGemini({ token: MINTED, serviceAccount: account });
  let now = Date.UTC(2026, 0, 1);
  const source = new ServiceAccountTokenSource({
    path: "key.json",
    readTextFile: () => Promise.resolve(account.keyFile(`${google.url}/token`)),
    now: () => now,
  });
  const [first, second] = await Promise.all([source.token(), source.token()]);
  assertEquals([first, second], [MINTED, MINTED]);
  assertEquals(google.tokensGranted, 1, "concurrent calls share one exchange");
  now += 50 * 60_000;
  assertEquals(await source.token(), MINTED);
  assertEquals(google.tokensGranted, 1, "kept for most of its hour");
  now += 5 * 60_000;
  assertEquals(await source.token(), MINTED);
  assertEquals(google.tokensGranted, 2, "exchanged again before it expires");
});

Deno.test("a key Google refuses, or one that cannot be read, is an auth error that never shows the key", async () => {
  const account = await createServiceAccountKey();
  const other = await createServiceAccountKey();
  await using google = startFakeGemini({ token: MINTED, serviceAccount: account });
  const keyFile = other.keyFile(`${google.url}/token`);
  const refused = new ServiceAccountTokenSource({
    path: "other.json",
    readTextFile: () => Promise.resolve(keyFile),
  });
  const error = await assertRejects(() => refused.token());
  assert(error instanceof UpstreamError);
  assertEquals(error.errorClass, "auth");
  assertEquals(
    error.message,
    "Google refused the service account's token exchange with status 400 (invalid_grant)",
  );
  const privateKey = JSON.parse(keyFile).private_key as string;
  assert(!error.message.includes(privateKey.slice(30, 60)));

  for (const text of ["not json", "{}", JSON.stringify({ client_email: "a", private_key: "x" })]) {
    const broken = new ServiceAccountTokenSource({
      path: "broken.json",
      readTextFile: () => Promise.resolve(text),
    });
    const failure = await assertRejects(() => broken.token());
    assert(failure instanceof UpstreamError, text);
    assertEquals(failure.errorClass, "auth", text);
  }
});
