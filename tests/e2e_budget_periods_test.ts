// Budgets with periods against the real program: the clock budget periods follow is moved by a
// file every instance reads (GATEWAY_TEST_CLOCK_FILE), so a test can take them into the next day
// at once, and a rollover must let exactly one more day's budget through, however many
// instances serve the requests.
import { assert, assertEquals } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import { delay, type GatewayProcess, startGateway } from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-budget-tests";
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
// The fake upstream answers 7 completion tokens; at $0.10 each and max_tokens 7, every request
// reserves exactly what it costs: $0.70, and a day's budget of $2.10 covers three.
const PRICES = JSON.stringify({
  "upstream-model": { input_per_1m_tokens: 0, output_per_1m_tokens: 100_000 },
});
// Written out: 3 * 0.7 in floating point is not 2.1.
const DAY_BUDGET_USD = 2.1;
const DAY = 86_400_000;
// A Tuesday noon, UTC: half a day from either end of its day.
const TUESDAY_NOON = Date.UTC(2030, 0, 15, 12);

/** Moves the clock of every gateway reading `file` to `at` (ms since the epoch), from now on. */
async function setClock(file: string, at: number): Promise<void> {
  await Deno.writeTextFile(file, String(at - Date.now()));
}

async function admin(url: string, path: string, init: { method?: string; body?: unknown } = {}) {
  const response = await fetch(`${url}/internal${path}`, {
    method: init.method ?? "GET",
    headers: ADMIN,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const body = await response.json();
  assert(response.ok, `${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** Sends `count` requests at once, spread over `gateways`; how many were served and refused. */
async function burst(gateways: GatewayProcess[], key: string, count: number) {
  const responses = await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        fetch(`${gateways[i % gateways.length].url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: "upstream-model",
            max_tokens: 7,
            messages: [{ role: "user", content: "Hi" }],
          }),
        }),
    ),
  );
  const bodies = await Promise.all(responses.map((response) => response.json()));
  return {
    served: responses.filter((response) => response.status === 200).length,
    refused: bodies.filter((body) => body.error?.code === "insufficient_quota").length,
  };
}

/** Waits until the tenant's ledger has `requests` rows. */
async function settled(url: string, tenantId: string, requests: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await admin(url, `/tenants/${tenantId}/usage`)).requests >= requests) return;
    await delay(50);
  }
  throw new Error(`fewer than ${requests} requests were settled`);
}

const iso = (ms: number) => new Date(ms).toISOString();
const midnight = (ms: number) => ms - ms % DAY;

/**
 * Two days of requests against a daily budget of three requests' worth: each day serves exactly
 * three of eight, whichever gateway each goes to, and the admin API shows each day's spend and
 * when the next day starts. `budgeted` makes the account and returns where its budget shows.
 */
async function twoDays(
  gateways: GatewayProcess[],
  clockFile: string,
  budgeted: (
    url: string,
  ) => Promise<{ tenantId: string; key: string; budget: () => Promise<Budget> }>,
) {
  const [first] = gateways;
  await setClock(clockFile, TUESDAY_NOON);
  const { tenantId, key, budget } = await budgeted(first.url);
  assertEquals(await burst(gateways, key, 8), { served: 3, refused: 5 });
  await settled(first.url, tenantId, 3);
  assertEquals(await budget(), {
    budget_period: "daily",
    period_spend_usd: DAY_BUDGET_USD,
    period_start: iso(midnight(TUESDAY_NOON)),
    next_reset_at: iso(midnight(TUESDAY_NOON) + DAY),
  });

  await setClock(clockFile, TUESDAY_NOON + DAY);
  assertEquals(await burst(gateways, key, 8), { served: 3, refused: 5 }, "reset exactly once");
  await settled(first.url, tenantId, 6);
  assertEquals(await budget(), {
    budget_period: "daily",
    period_spend_usd: DAY_BUDGET_USD,
    period_start: iso(midnight(TUESDAY_NOON) + DAY),
    next_reset_at: iso(midnight(TUESDAY_NOON) + 2 * DAY),
  });
  // The balance paid for both days.
  const tenant = await admin(first.url, `/tenants/${tenantId}`);
  assertEquals(Math.round(tenant.balance_usd * 1e6), Math.round((100 - 2 * DAY_BUDGET_USD) * 1e6));
}

interface Budget {
  budget_period: string | null;
  period_spend_usd: number;
  period_start: string | null;
  next_reset_at: string | null;
}

const budgetOf = (
  { budget_period, period_spend_usd, period_start, next_reset_at }: Budget,
): Budget => ({ budget_period, period_spend_usd, period_start, next_reset_at });

/** A tenant with $100 and a key whose daily budget covers three requests. */
async function keyWithDailyBudget(url: string) {
  const tenant = await admin(url, "/tenants", {
    method: "POST",
    body: { name: "acme", balance_usd: 100 },
  });
  const created = await admin(url, `/tenants/${tenant.id}/keys`, {
    method: "POST",
    body: { name: "daily", budget_usd: DAY_BUDGET_USD, budget_period: "daily" },
  });
  assertEquals(created.period_spend_usd, 0);
  return {
    tenantId: tenant.id as string,
    key: created.key as string,
    budget: async () => {
      const keys = await admin(url, `/tenants/${tenant.id}/keys`);
      return budgetOf(keys.data[0]);
    },
  };
}

/** A tenant with $100 whose own daily budget covers three requests, and a key without one. */
async function tenantWithDailyBudget(url: string) {
  const tenant = await admin(url, "/tenants", {
    method: "POST",
    body: { name: "acme", balance_usd: 100, budget_usd: DAY_BUDGET_USD, budget_period: "daily" },
  });
  const created = await admin(url, `/tenants/${tenant.id}/keys`, {
    method: "POST",
    body: { name: "any" },
  });
  assertEquals([created.budget_usd, created.budget_period], [null, null]);
  return {
    tenantId: tenant.id as string,
    key: created.key as string,
    budget: async () => budgetOf(await admin(url, `/tenants/${tenant.id}`)),
  };
}

Deno.test("two gateways on PostgreSQL and Redis reset a key's daily budget exactly once", async () => {
  await using upstream = startFakeUpstream();
  await using db = await createDatabase();
  const clockFile = await Deno.makeTempFile({ prefix: "gateway-clock-" });
  try {
    const env = {
      ADMIN_TOKEN,
      MODEL_PRICES: PRICES,
      OPENAI_BASE_URL: upstream.url,
      DATABASE_URL: db.url,
      REDIS_URL: "redis://127.0.0.1:6379",
      REDIS_KEY_PREFIX: `test${crypto.randomUUID().slice(0, 8)}:`,
      QUOTA_HOLDS: "redis",
      GATEWAY_TEST_CLOCK_FILE: clockFile,
    };
    await using a = await startGateway({ env });
    await using b = await startGateway({ env });
    await twoDays([a, b], clockFile, keyWithDailyBudget);
  } finally {
    await Deno.remove(clockFile);
  }
});

Deno.test("two gateways on PostgreSQL reserving in the store reset a tenant's daily budget exactly once", async () => {
  await using upstream = startFakeUpstream();
  await using db = await createDatabase();
  const clockFile = await Deno.makeTempFile({ prefix: "gateway-clock-" });
  try {
    const env = {
      ADMIN_TOKEN,
      MODEL_PRICES: PRICES,
      OPENAI_BASE_URL: upstream.url,
      DATABASE_URL: db.url,
      QUOTA_HOLDS: "store",
      GATEWAY_TEST_CLOCK_FILE: clockFile,
    };
    await using a = await startGateway({ env });
    await using b = await startGateway({ env });
    await twoDays([a, b], clockFile, tenantWithDailyBudget);
  } finally {
    await Deno.remove(clockFile);
  }
});

Deno.test("the embedded gateway resets a tenant's daily budget exactly once at midnight", async () => {
  await using upstream = startFakeUpstream();
  const clockFile = await Deno.makeTempFile({ prefix: "gateway-clock-" });
  try {
    await using gw = await startGateway({
      env: {
        ADMIN_TOKEN,
        MODEL_PRICES: PRICES,
        OPENAI_BASE_URL: upstream.url,
        GATEWAY_TEST_CLOCK_FILE: clockFile,
      },
    });
    await twoDays([gw], clockFile, tenantWithDailyBudget);
    const refusal = await gw.waitForRecord((record) =>
      record.message === "quota_exceeded" && record.reason === "tenant_budget"
    );
    assertEquals(refusal.level, "WARNING");
  } finally {
    await Deno.remove(clockFile);
  }
});

Deno.test("a budget period in a time zone starts at that zone's midnight, and bad periods are 400s", async () => {
  const clockFile = await Deno.makeTempFile({ prefix: "gateway-clock-" });
  try {
    await using gw = await startGateway({
      env: { ADMIN_TOKEN, BUDGET_TIME_ZONE: "Asia/Tokyo", GATEWAY_TEST_CLOCK_FILE: clockFile },
    });
    await setClock(clockFile, TUESDAY_NOON);
    const tenant = await admin(gw.url, "/tenants", {
      method: "POST",
      body: { name: "tokyo", budget_usd: 5, budget_period: "weekly" },
    });
    // Noon UTC on Tuesday is 21:00 in Tokyo (UTC+9): its week began at Monday 00:00 there.
    assertEquals(tenant.period_start, "2030-01-13T15:00:00.000Z");
    assertEquals(tenant.next_reset_at, "2030-01-20T15:00:00.000Z");
    for (
      const body of [
        { budget_period: "hourly" },
        { budget_period: 7 },
        { budget_usd: -1 },
        { budget_usd: 1e12 },
      ]
    ) {
      const response = await fetch(`${gw.url}/internal/tenants/${tenant.id}`, {
        method: "PATCH",
        headers: ADMIN,
        body: JSON.stringify(body),
      });
      assertEquals(response.status, 400, JSON.stringify(body));
      assertEquals((await response.json()).error.type, "invalid_request_error");
    }
  } finally {
    await Deno.remove(clockFile);
  }
});
