import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../tests/assert.ts";
import { ConfigError, loadConfig } from "./schema.ts";

Deno.test("an empty environment gives the embedded defaults", () => {
  const config = loadConfig({});
  assertEquals(config.PORT, 8000);
  assertEquals(config.HOST, "127.0.0.1");
  assertEquals(config.DATABASE_URL, undefined);
  assertEquals(config.DATA_DIR, "./data");
  assertEquals(config.LOG_LEVEL, "INFO");
  assertEquals(config.LOG_JSON_FORMAT, true);
  assertEquals(config.LOG_ROTATION, 500_000_000);
  assertEquals(config.LOG_RETENTION, 864_000_000);
  assertEquals(config.MOCK_MODELS, ["mock-gpt", "gpt-4o-mini", "gpt-4o"]);
});

Deno.test("values are parsed into their types", () => {
  const config = loadConfig({
    PORT: "9001",
    LOG_LEVEL: "warning",
    LOG_JSON_FORMAT: "false",
    LOG_ROTATION: "1 GiB",
    LOG_RETENTION: "12 hours",
    OPENAI_MODELS: " gpt-4o , gpt-4o-mini,,",
    DATABASE_URL: "postgres://u:p@db:5432/gw",
  });
  assertEquals(config.PORT, 9001);
  assertEquals(config.LOG_LEVEL, "WARNING");
  assertEquals(config.LOG_JSON_FORMAT, false);
  assertEquals(config.LOG_ROTATION, 1_073_741_824);
  assertEquals(config.LOG_RETENTION, 43_200_000);
  assertEquals(config.OPENAI_MODELS, ["gpt-4o", "gpt-4o-mini"]);
});

Deno.test("an empty value counts as unset", () => {
  assertEquals(loadConfig({ PORT: "", DATABASE_URL: "" }).PORT, 8000);
});

Deno.test("every bad value is named with what it accepts", () => {
  const error = assertThrows(() =>
    loadConfig({
      PORT: "eighty",
      LOG_LEVEL: "LOUD",
      LOG_ROTATION: "huge",
      LOG_RETENTION: "forever",
      MAX_BODY_BYTES: "0",
      LOG_JSON_FORMAT: "maybe",
    })
  );
  assert(error instanceof ConfigError);
  for (const name of ["PORT", "LOG_LEVEL", "LOG_ROTATION", "LOG_RETENTION", "MAX_BODY_BYTES"]) {
    assertStringIncludes(error.message, name);
  }
  assertStringIncludes(error.message, "LOG_JSON_FORMAT: accepts true or false");
  assertStringIncludes(error.message, "PORT: accepts a whole number from 0 to 65535");
  assertStringIncludes(error.message, "accepts one of DEBUG, INFO, WARNING, ERROR, CRITICAL");
  assertEquals(error.problems.length, 6);
});

Deno.test("URLs must have the right scheme", () => {
  const error = assertThrows(() =>
    loadConfig({ DATABASE_URL: "mysql://x", REDIS_URL: "http://x", OPENAI_BASE_URL: "ftp://x" })
  );
  assertStringIncludes(error.message, "DATABASE_URL: accepts a URL with scheme postgres://");
  assertStringIncludes(error.message, "REDIS_URL: accepts a URL with scheme redis://");
  assertStringIncludes(error.message, "OPENAI_BASE_URL: accepts a URL with scheme http://");
});

Deno.test("the value of a secret or URL is never repeated in the error", () => {
  const error = assertThrows(() =>
    loadConfig({ ADMIN_TOKEN: "short-secret", DATABASE_URL: "mysql://user:hunter2@db" })
  );
  assertStringIncludes(error.message, "ADMIN_TOKEN");
  assertEquals(error.message.includes("short-secret"), false);
  assertEquals(error.message.includes("hunter2"), false);
});

Deno.test("MODEL_PRICES is JSON of prices per million tokens, refused when malformed", () => {
  const config = loadConfig({
    MODEL_PRICES: '{"gpt-4o": {"input_per_1m_tokens": 2.5, "output_per_1m_tokens": 10}}',
  });
  assertEquals(config.MODEL_PRICES["gpt-4o"].output_per_1m_tokens, 10);
  assertEquals(config.MODEL_PRICE_DEFAULT.input_per_1m_tokens, 10);
  for (
    const bad of [
      "not json",
      '{"m": {"input_per_1m_tokens": -1, "output_per_1m_tokens": 1}}',
      '{"m": {"input_per_1m_tokens": 1}}',
      '{"m": {"input_per_1m_tokens": 1, "output_per_1m_tokens": 1, "extra": 1}}',
    ]
  ) {
    const error = assertThrows(() => loadConfig({ MODEL_PRICES: bad }));
    assertStringIncludes(error.message, "MODEL_PRICES");
    assertStringIncludes(error.message, "input_per_1m_tokens");
  }
});

Deno.test("the quota margin takes dollars with at most micro-dollar precision", () => {
  assertEquals(loadConfig({ QUOTA_MARGIN_USD: "0.25" }).QUOTA_MARGIN_USD, 0.25);
  assertThrows(() => loadConfig({ QUOTA_MARGIN_USD: "-1" }));
  assertThrows(() => loadConfig({ QUOTA_MARGIN_USD: "0.0000001" }));
});

Deno.test("splitting API and workers over processes needs Redis", () => {
  const error = assertThrows(() => loadConfig({ RUN_MODE: "worker" }));
  assertStringIncludes(error.message, "RUN_MODE");
  assertStringIncludes(error.message, "REDIS_URL");
  assertEquals(
    loadConfig({ RUN_MODE: "api", REDIS_URL: "redis://127.0.0.1:6379" }).RUN_MODE,
    "api",
  );
});

Deno.test("reservations held in memory are refused on a database that instances share", () => {
  const error = assertThrows(() =>
    loadConfig({ QUOTA_HOLDS: "memory", DATABASE_URL: "postgres://u@127.0.0.1/db" })
  );
  assertStringIncludes(error.message, "QUOTA_HOLDS");
  assertEquals(loadConfig({ QUOTA_HOLDS: "memory" }).QUOTA_HOLDS, "memory");
  assertEquals(loadConfig({}).QUOTA_HOLDS, undefined);
  assertStringIncludes(
    assertThrows(() => loadConfig({ QUOTA_HOLDS: "disk" })).message,
    "accepts memory, store or redis",
  );
});

Deno.test("budget periods follow an IANA time zone, UTC unless one is named", () => {
  assertEquals(loadConfig({}).BUDGET_TIME_ZONE, "UTC");
  assertEquals(loadConfig({ BUDGET_TIME_ZONE: "Europe/Berlin" }).BUDGET_TIME_ZONE, "Europe/Berlin");
  const error = assertThrows(() => loadConfig({ BUDGET_TIME_ZONE: "Mars/Olympus" }));
  assert(error instanceof ConfigError);
  assertStringIncludes(error.message, "BUDGET_TIME_ZONE: accepts an IANA time zone");
});
