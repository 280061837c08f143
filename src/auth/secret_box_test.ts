import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/assert.ts";
import { generateSigningSecret, SecretBox } from "./secret_box.ts";

Deno.test("a sealed secret opens to the same text", async () => {
  const box = SecretBox.fromBase64(SecretBox.generateKey());
  for (const secret of [generateSigningSecret(), "", "ünïcødé ✓", "x".repeat(10_000)]) {
    const sealed = await box.encrypt(secret);
    assertMatch(sealed, /^v1\.[A-Za-z0-9_-]+$/);
    assertEquals(await box.decrypt(sealed), secret);
  }
});

Deno.test("a box made from the same master key opens what another sealed", async () => {
  const key = SecretBox.generateKey();
  const sealed = await SecretBox.fromBase64(key).encrypt("ss-shared");
  assertEquals(await SecretBox.fromBase64(key).decrypt(sealed), "ss-shared");
});

Deno.test("sealing the same secret twice gives different values (random IV)", async () => {
  const box = SecretBox.fromBase64(SecretBox.generateKey());
  const secret = generateSigningSecret();
  const [a, b] = [await box.encrypt(secret), await box.encrypt(secret)];
  assertNotEquals(a, b);
  assertNotEquals(a.slice(3, 19), b.slice(3, 19));
  // 12 bytes of IV, the ciphertext as long as the text, 16 bytes of tag.
  const bytes = atob(a.slice(3).replace(/-/g, "+").replace(/_/g, "/"));
  assertEquals(bytes.length, 12 + secret.length + 16);
  assert(!a.includes(secret.slice(3)), "the secret shows through");
});

Deno.test("any change to a sealed secret is detected", async () => {
  const box = SecretBox.fromBase64(SecretBox.generateKey());
  const sealed = await box.encrypt(generateSigningSecret());
  const body = sealed.slice(3);
  const variants = [
    // A changed character in the IV, the ciphertext and the tag.
    ...[0, 20, body.length - 2].map((i) =>
      "v1." + body.slice(0, i) + (body[i] === "A" ? "B" : "A") + body.slice(i + 1)
    ),
    "v1." + body.slice(0, -4),
    "v1." + body.slice(4),
    "v2." + body,
    body,
    "v1.",
    "v1.AAAA",
    "v1." + body + "!",
  ];
  for (const variant of variants) {
    const error = await assertRejects(() => box.decrypt(variant), variant);
    assertStringIncludes(error.message, "Cannot decrypt the secret");
  }
});

Deno.test("a secret sealed under another master key does not open", async () => {
  const sealed = await SecretBox.fromBase64(SecretBox.generateKey()).encrypt("ss-secret");
  const other = SecretBox.fromBase64(SecretBox.generateKey());
  const error = await assertRejects(() => other.decrypt(sealed));
  assertStringIncludes(error.message, "another master key");
});

Deno.test("a master key that is not 32 bytes of base64 is refused with a clear message", () => {
  const bytes = (n: number) => btoa(String.fromCharCode(...new Uint8Array(n).fill(7)));
  const key = SecretBox.generateKey();
  const cases = [
    "",
    "not a key",
    bytes(16),
    bytes(31),
    bytes(33),
    key.slice(0, -1),
    key.replace(/=$/, ""),
    key.replace(/[+/]/g, "-").replace(/^./, "-"),
    key.slice(0, 20) + " " + key.slice(20),
  ];
  for (const masterKey of cases) {
    const error = assertThrows(() => SecretBox.fromBase64(masterKey), masterKey);
    assertStringIncludes(error.message, "32 bytes encoded as base64", masterKey);
    if (masterKey.length > 8) assert(!error.message.includes(masterKey), "shows the key");
  }
});

Deno.test("a master key read from a file with a trailing newline is accepted", async () => {
  const key = SecretBox.generateKey();
  const sealed = await SecretBox.fromBase64(key).encrypt("ss-secret");
  assertEquals(await SecretBox.fromBase64(`${key}\n`).decrypt(sealed), "ss-secret");
});

Deno.test("generated master keys are 32 random bytes in base64", () => {
  const [a, b] = [SecretBox.generateKey(), SecretBox.generateKey()];
  assertMatch(a, /^[A-Za-z0-9+/]{43}=$/);
  assertNotEquals(a, b);
});

Deno.test("inspecting or serializing a box does not show its master key", () => {
  const key = SecretBox.generateKey();
  const box = SecretBox.fromBase64(key);
  const shown = Deno.inspect(box, { depth: 10, showHidden: true }) + JSON.stringify(box);
  assert(!shown.includes(key), shown);
  assert(!shown.includes(key.slice(0, 10)), shown);
});

Deno.test("signing secrets are ss- and 32 random bytes in base64url", () => {
  const [a, b] = [generateSigningSecret(), generateSigningSecret()];
  assertMatch(a, /^ss-[A-Za-z0-9_-]{43}$/);
  assertNotEquals(a, b);
});
