// The status page in a real browser: the real gateway (Redis queue, SQLite store, a fake upstream)
// with a tenant low on balance, a key near its budget, dead letters and an upstream failure, and
// headless Chromium signing in, reading the page, redriving a dead letter and signing out.
// Chromium is required (Debian's `chromium`): without it this test fails, it never skips.
import type { Browser, Page } from "playwright-core";
import { createClient } from "redis";
import { encodeJob } from "../src/queue/redis.ts";
import type { Job } from "../src/queue/mod.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import { startGateway, waitFor } from "./gateway_process.ts";
import { REDIS_URL } from "./redis_testing.ts";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN_TOKEN = "status-page-admin-token-e2e";
const WAIT_MS = 15_000;
// One cent per token in and out: the fake upstream's 11 + 7 tokens cost 0.18 USD.
const PRICES = JSON.stringify({
  priced: { input_per_1m_tokens: 10_000, output_per_1m_tokens: 10_000 },
});

async function launchChromium(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `This test needs Chromium at ${CHROMIUM} (Debian package 'chromium'; .ci/run installs it)`,
    );
  }
  // On load, playwright-core asks whether it runs under WSL by probing
  // /proc/sys/fs/binfmt_misc/WSLInterop, a path Deno opens only with --allow-all. Its `is-wsl`
  // copy skips the probe when __IS_WSL_TEST__ is set; the answer only matters for opening files
  // in a desktop app, never for launching a browser. Hence a dynamic import, with it set.
  Deno.env.set("__IS_WSL_TEST__", "1");
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } finally {
    Deno.env.delete("__IS_WSL_TEST__");
  }
  return await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

async function admin(url: string, path: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  assert(response.ok, `${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function chat(url: string, key: string, model: string, traceId: string) {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "x-trace-id": traceId },
    body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: "user", content: "Hi" }] }),
  });
  await response.body?.cancel();
  return response.status;
}

function settleJob(id: string, payload: Record<string, unknown>): Job {
  return {
    id,
    queue: "billing",
    task: "billing.settle",
    payload,
    attempts: 0,
    enqueuedAt: Date.now(),
  };
}

/** The visible text of every row of a section's table. */
function rows(page: Page, section: string): Promise<string[]> {
  return page.locator(`#${section} tbody tr`).allInnerTexts();
}

Deno.test("the status page shows queues, dead letters, failures and quotas, and redrives", async () => {
  const prefix = `test${crypto.randomUUID().slice(0, 8)}:`;
  const redis = createClient({ url: REDIS_URL, socket: { connectTimeout: 2000 } });
  redis.on("error", () => {});
  await redis.connect();
  await using upstream = startFakeUpstream();
  await using gw = await startGateway({
    env: {
      ADMIN_TOKEN,
      OPENAI_BASE_URL: upstream.url,
      MODEL_PRICES: PRICES,
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      REDIS_TIMEOUT_MS: "5000",
      QUEUE_MAX_ATTEMPTS: "1",
    },
  });
  const browser = await launchChromium();
  try {
    // A tenant nearly out of money, and a key that has spent 90 % of its budget.
    const poor = await admin(gw.url, "/internal/tenants", {
      name: "Nearly Broke",
      balance_usd: 0.05,
    });
    const poorKey = await admin(gw.url, `/internal/tenants/${poor.id}/keys`, { name: "poor" });
    const spender = await admin(gw.url, "/internal/tenants", {
      name: "Big Spender",
      balance_usd: 100,
    });
    const budgeted = await admin(gw.url, `/internal/tenants/${spender.id}/keys`, {
      name: "budgeted",
      budget_usd: 0.2,
    });
    const ops = await admin(gw.url, `/internal/tenants/${spender.id}/keys`, { name: "ops" });
    assertEquals(await chat(gw.url, budgeted.key, "priced", "req-e2e-spend"), 200);
    await waitFor(async () => {
      const keys = await admin(gw.url, `/internal/tenants/${spender.id}/keys`);
      const usage = await admin(gw.url, `/internal/tenants/${spender.id}/usage`);
      return usage.requests === 1 && keys.data.length === 2 ? true : undefined;
    }, { what: "the spend settled", timeoutMs: WAIT_MS });

    // A charge for a tenant that does not exist fails its only attempt and is dead-lettered...
    await redis.lPush(
      `${prefix}queue:billing`,
      encodeJob(settleJob("settle:req-e2e-orphan", {
        traceId: "req-e2e-orphan",
        tenantId: "tnt_does_not_exist",
        apiKeyId: "key_does_not_exist",
        model: "priced",
        provider: "openai",
        inputTokens: 1,
        outputTokens: 1,
        costMicros: 20_000,
        estimated: false,
      })),
    );
    await gw.waitForRecord((r) => r.message === "job_dead_lettered", WAIT_MS);
    // ...and one stranded in the dead-letter list (say, by an outage) that can still be settled.
    await redis.lPush(
      `${prefix}queue:dead`,
      encodeJob(settleJob("settle:req-e2e-stranded", {
        traceId: "req-e2e-stranded",
        tenantId: poor.id,
        apiKeyId: poorKey.id,
        model: "priced",
        provider: "openai",
        inputTokens: 1,
        outputTokens: 1,
        costMicros: 20_000,
        estimated: false,
      })),
    );
    upstream.behaviour = { status: 500 };
    assertEquals(await chat(gw.url, ops.key, "any-model", "req-e2e-upstream-500"), 502);

    // Not signed in: the shell asks for the token and shows no data.
    const anonymous = await browser.newPage();
    const requested: string[] = [];
    anonymous.on("request", (request) => requested.push(request.url()));
    await anonymous.goto(`${gw.url}/internal/ui`);
    await anonymous.locator("#login").waitFor({ state: "visible", timeout: WAIT_MS });
    assertEquals(await anonymous.locator("#status").isHidden(), true);
    assertEquals(await anonymous.locator("tbody tr").count(), 0);
    const body = await anonymous.locator("body").innerText();
    assertEquals(body.includes("Nearly Broke") || body.includes("req-e2e"), false);
    await anonymous.fill("#token", "a-wrong-admin-token-1234");
    await anonymous.click("#login button[type=submit]");
    await anonymous.locator("#login-error").filter({ hasText: "refused" }).waitFor({
      timeout: WAIT_MS,
    });
    assertEquals(await anonymous.locator("tbody tr").count(), 0);
    assertEquals(await anonymous.evaluate(() => sessionStorage.length), 0);

    // Signed in: every part of the page.
    await anonymous.fill("#token", ADMIN_TOKEN);
    await anonymous.click("#login button[type=submit]");
    const page = anonymous;
    await page.locator('#dead-letters tr[data-job="settle:req-e2e-stranded"]').waitFor({
      timeout: WAIT_MS,
    });
    assertEquals(await page.locator("#login").isHidden(), true);
    assertEquals(await page.locator("#controls").isVisible(), true);
    const queues = await rows(page, "queues");
    for (const name of ["default", "billing", "internal", "external", "retry"]) {
      assert(queues.some((text) => text.startsWith(name)), `queue ${name} in ${queues}`);
    }
    assertEquals(await page.locator('#queues tr[data-queue="dead"] td.number').innerText(), "2");
    assertEquals(await page.locator('#queues tr[data-queue="billing"] td.number').innerText(), "0");
    const workers = await rows(page, "workers");
    assert(
      workers.some((text) => text.includes("billing") && /idle|busy/.test(text)),
      `${workers}`,
    );
    const tasks = await page.locator('#tasks tr[data-task="billing.settle"]').innerText();
    assertStringIncludes(tasks, "billing.settle");
    const dead = await rows(page, "dead-letters");
    assertEquals(dead.length, 2);
    assert(dead.some((text) => text.includes("settle:req-e2e-orphan")), `${dead}`);
    assertStringIncludes(await page.locator("#dead-letters .count").innerText(), "(2)");
    const failures = await rows(page, "failures");
    assertEquals(failures.length, 1, `${failures}`);
    // The single upstream's deployment is named after its provider and host.
    const deployment = `openai:${new URL(upstream.url).host}`;
    for (const part of ["server_error", "500", "any-model", "req-e2e-upstream-500", deployment]) {
      assertStringIncludes(failures[0], part);
    }
    const failureState = page.locator("#failures td.state");
    assertStringIncludes(await failureState.getAttribute("class") ?? "", "state-bad");
    // The single upstream is one deployment (model `*`), its circuit still closed: the failure
    // above is one of the ten calls a circuit needs before it may open.
    const circuits = await rows(page, "circuits");
    assertEquals(circuits.length, 1, `${circuits}`);
    for (const part of ["openai", "*", "closed"]) assertStringIncludes(circuits[0], part);
    assertEquals(
      await page.locator(`#circuits tr[data-deployment="${deployment}"]`).count(),
      1,
      `${circuits}`,
    );
    const tenant = await page.locator(`#tenants tr[data-tenant="${poor.id}"]`).innerText();
    assertStringIncludes(tenant, "Nearly Broke");
    assertStringIncludes(tenant, "$0.05");
    assertEquals((await rows(page, "tenants")).some((text) => text.includes("Big Spender")), false);
    const key = await page.locator(`#keys tr[data-key="${budgeted.id}"]`).innerText();
    assertStringIncludes(key, "budgeted");
    assertStringIncludes(key, "Big Spender");
    assertStringIncludes(key, "90 %");
    assertEquals(await page.locator(`#keys tr[data-key="${ops.id}"]`).count(), 0);
    // The budgets section: the key's lifetime budget, 90 % used, which never resets.
    const budget = await page.locator(`#budgets tr[data-key="${budgeted.id}"]`).innerText();
    for (const part of [spender.id, "lifetime", "90 %", "never"]) {
      assertStringIncludes(budget, part);
    }
    assertEquals(await rows(page, "budgets").then((list) => list.length), 1);

    // The page refreshes by itself: a new failure shows up without a click.
    assertEquals(await chat(gw.url, ops.key, "any-model", "req-e2e-upstream-again"), 502);
    await page.locator("#failures tbody tr", { hasText: "req-e2e-upstream-again" }).waitFor({
      timeout: WAIT_MS,
    });
    await page.click("#pause");
    assertEquals(await page.locator("#pause").getAttribute("aria-pressed"), "true");
    assertEquals(await page.locator("#pause").innerText(), "Resume");
    await page.click("#pause");
    assertEquals(await page.locator("#pause").innerText(), "Pause");

    // Redrive: the stranded charge leaves the list and is settled; the orphan stays.
    await page.click('#dead-letters tr[data-job="settle:req-e2e-stranded"] button');
    await page.locator('#dead-letters tr[data-job="settle:req-e2e-stranded"]').waitFor({
      state: "detached",
      timeout: WAIT_MS,
    });
    await waitFor(async () => {
      const usage = await admin(gw.url, `/internal/tenants/${poor.id}/usage`);
      return usage.requests === 1 ? usage : undefined;
    }, { what: "the redriven charge settled", timeoutMs: WAIT_MS });
    assertEquals((await rows(page, "dead-letters")).length, 1);

    // The token stays in this tab across a reload, never in a URL, and goes on sign-out.
    await page.reload();
    await page.locator('#dead-letters tr[data-job="settle:req-e2e-orphan"]').waitFor({
      timeout: WAIT_MS,
    });
    await page.click("#sign-out");
    await page.locator("#login").waitFor({ state: "visible", timeout: WAIT_MS });
    assertEquals(await page.locator("tbody tr").count(), 0);
    assertEquals(await page.locator("#status").isHidden(), true);
    assertEquals(await page.evaluate(() => sessionStorage.length), 0);
    assertEquals(requested.some((url) => url.includes(ADMIN_TOKEN)), false);

    // Another tab has no token: the login form, no data.
    const other = await browser.newPage();
    await other.goto(`${gw.url}/internal/ui`);
    await other.locator("#login").waitFor({ state: "visible", timeout: WAIT_MS });
    assertEquals(await other.locator("tbody tr").count(), 0);
    const logs = gw.stdout().join("\n") + gw.stderr();
    assertEquals(logs.includes(ADMIN_TOKEN), false, "the admin token never reaches a log line");
  } finally {
    await browser.close();
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) await redis.del(keys);
    }
    await redis.close();
  }
});
