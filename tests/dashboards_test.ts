/**
 * The Grafana dashboards (`dashboards/*.json`) and the Prometheus rules
 * (`alerts/prometheus-rules.yml`): static checks of the JSON models, then every panel query and
 * every rule run by a real Prometheus that scrapes the real gateway after real traffic.
 */
import { createClient } from "redis";
import { assert, assertEquals } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { startFakeUpstream } from "./fake_upstream.ts";
import { createTenantWithKey, startGateway, waitFor } from "./gateway_process.ts";
import {
  alertValueQuery,
  blankStrings,
  readRules,
  RULES_FILE,
  startPrometheus,
} from "./prometheus.ts";

const DASHBOARD_FILES = ["gateway.json", "queues.json"].map((name) => ({
  name,
  url: new URL(`../dashboards/${name}`, import.meta.url),
}));
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };
/** What the live check puts for `$__rate_interval`: Grafana's floor is 4 scrape intervals (1 s
 * here), and a minute holds enough samples for `rate()` however loaded the machine is. */
const RATE_INTERVAL = "1m";
/** Unit ids of Grafana's unit picker that these dashboards may use; a typo shows as raw numbers. */
const UNITS = new Set(["reqps", "ops", "percentunit", "percent", "s", "ms", "short", "none"]);
const ADMIN_TOKEN = `e2e-dashboards-${crypto.randomUUID()}`;
const REDIS_URL = "redis://127.0.0.1:6379";

interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
  format?: string;
  instant?: boolean;
  range?: boolean;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  fieldConfig?: {
    defaults?: {
      unit?: string;
      mappings?: Array<{ type: string; options: Record<string, { text: string }> }>;
      thresholds?: { steps: Array<{ color: string; value: number | null }> };
    };
  };
  targets?: Target[];
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  tags: string[];
  refresh: string;
  time: { from: string; to: string };
  id: number | null;
  templating: {
    list: Array<{ name: string; type: string; query: string }>;
  };
  panels: Panel[];
}

async function loadDashboard(url: URL): Promise<Dashboard> {
  return JSON.parse(await Deno.readTextFile(url)) as Dashboard;
}

// ---------------------------------------------------------------------------------------------
// Static checks
// ---------------------------------------------------------------------------------------------

for (const file of DASHBOARD_FILES) {
  Deno.test(`dashboard ${file.name}: an importable Grafana model with a datasource variable`, async () => {
    const dashboard = await loadDashboard(file.url);
    assert(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion} < 39`);
    assert(/^[A-Za-z0-9_-]{1,40}$/.test(dashboard.uid ?? ""), `uid '${dashboard.uid}'`);
    assert(typeof dashboard.title === "string" && dashboard.title.length > 0, "a title");
    assert(Array.isArray(dashboard.tags) && dashboard.tags.includes("gateway"), "tagged gateway");
    assertEquals(dashboard.id, null, "no instance id, so import makes a new one");
    assert(/^\d+[smh]$/.test(dashboard.refresh), `refresh '${dashboard.refresh}'`);
    assert(/^now-\d+[mhd]$/.test(dashboard.time?.from) && dashboard.time.to === "now", "time");
    const variable = dashboard.templating.list.find((v) => v.name === "datasource");
    assertEquals(
      variable && { type: variable.type, query: variable.query },
      { type: "datasource", query: "prometheus" },
      "a `datasource` variable of type datasource listing Prometheus data sources",
    );
    assert(dashboard.panels.length > 0, "panels");
  });

  Deno.test(`dashboard ${file.name}: every panel has a unit, the datasource variable and rate windows of $__rate_interval`, async () => {
    const dashboard = await loadDashboard(file.url);
    const problems: string[] = [];
    for (const panel of dashboard.panels) {
      const where = `panel ${panel.id} '${panel.title}'`;
      const unit = panel.fieldConfig?.defaults?.unit;
      if (!unit || !UNITS.has(unit)) problems.push(`${where}: unit '${unit}'`);
      if (JSON.stringify(panel.datasource) !== JSON.stringify(DATASOURCE)) {
        problems.push(`${where}: datasource ${JSON.stringify(panel.datasource)}`);
      }
      const targets = panel.targets ?? [];
      if (targets.length === 0) problems.push(`${where}: no targets`);
      if (new Set(targets.map((t) => t.refId)).size !== targets.length) {
        problems.push(`${where}: refIds repeat`);
      }
      for (const target of targets) {
        const at = `${where} target ${target.refId}`;
        if (JSON.stringify(target.datasource) !== JSON.stringify(DATASOURCE)) {
          problems.push(`${at}: datasource ${JSON.stringify(target.datasource)}`);
        }
        if (!target.expr?.trim()) problems.push(`${at}: no expr`);
        problems.push(...rateWindowProblems(target.expr ?? "").map((p) => `${at}: ${p}`));
        if (panel.type === "heatmap" && target.format !== "heatmap") {
          problems.push(`${at}: a heatmap target needs format heatmap`);
        }
      }
    }
    assertEquals(problems, []);
  });

  Deno.test(`dashboard ${file.name}: panel ids are unique and no two panels overlap`, async () => {
    const { panels } = await loadDashboard(file.url);
    const ids = panels.map((p) => p.id);
    assert(ids.every((id) => Number.isInteger(id) && id > 0), `ids ${ids}`);
    assertEquals(new Set(ids).size, ids.length, `ids repeat: ${ids}`);
    for (const { id, gridPos: g } of panels) {
      assert(
        [g.x, g.y, g.w, g.h].every(Number.isInteger) && g.x >= 0 && g.y >= 0 && g.w > 0 &&
          g.h > 0 && g.x + g.w <= 24,
        `panel ${id}: gridPos ${JSON.stringify(g)} outside the 24-column grid`,
      );
    }
    const overlaps: string[] = [];
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        const [p, q] = [a.gridPos, b.gridPos];
        if (p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h) {
          overlaps.push(`${a.id} '${a.title}' and ${b.id} '${b.title}'`);
        }
      }
    }
    assertEquals(overlaps, [], "overlapping panels");
  });
}

Deno.test("dashboard gateway.json: the seed's success thresholds and the circuit state names", async () => {
  const { panels } = await loadDashboard(DASHBOARD_FILES[0].url);
  const success = panels.find((p) => p.type === "gauge" && p.title === "Success rate");
  assertEquals(success?.fieldConfig?.defaults?.unit, "percentunit");
  assertEquals(
    success?.fieldConfig?.defaults?.thresholds?.steps.map((s) => [s.color, s.value]),
    [["red", null], ["yellow", 0.95], ["green", 0.99]],
    "red below 95%, yellow from 95%, green from 99%",
  );
  const circuit = panels.find((p) =>
    p.targets?.some((t) => t.expr.includes("gateway_circuit_state"))
  );
  const names = Object.fromEntries(
    Object.entries(circuit?.fieldConfig?.defaults?.mappings?.[0]?.options ?? {})
      .map(([value, mapped]) => [value, mapped.text]),
  );
  assertEquals(names, { "0": "closed", "1": "half-open", "2": "open" });
});

Deno.test("rate windows: a fixed window or a missing one is reported, $__rate_interval is not", () => {
  assertEquals(rateWindowProblems('sum(rate(x{status=~"[45].."}[$__rate_interval]))'), []);
  assertEquals(rateWindowProblems("increase(x[5m])").length, 2);
  assertEquals(rateWindowProblems("rate(x[$__interval])").length, 2);
  assertEquals(rateWindowProblems("max_over_time(x[$__rate_interval])"), []);
});

Deno.test("an alert's value query is its expression without the final threshold", () => {
  assertEquals(alertValueQuery("redis_connected == 0"), "redis_connected");
  assertEquals(
    alertValueQuery('sum(rate(x{a=~"<|>="}[5m]))\n/\nsum(rate(y[5m]))\n> 0.05'),
    'sum(rate(x{a=~"<|>="}[5m]))\n/\nsum(rate(y[5m]))',
  );
  assertEquals(alertValueQuery("(\n  a > (14.4 * 0.001)\n  and\n  b > 1\n)\nor\n(c > 3)"), "a");
  assertEquals(alertValueQuery("a > 10\nand on (job)\n(b / c) > 0.1"), "a");
  assertEquals(
    alertValueQuery("histogram_quantile(0.95, sum by (le) (x)) > 2"),
    "histogram_quantile(0.95, sum by (le) (x))",
  );
  assertEquals(alertValueQuery('absent(up{job="gateway"})'), 'absent(up{job="gateway"})');
});

/** What is wrong with the range windows of `expr`: every window must be `[$__rate_interval]`
 * and every `rate(`/`irate(`/`increase(` must have one. */
function rateWindowProblems(expr: string): string[] {
  const text = blankStrings(expr);
  const problems: string[] = [];
  for (const window of text.matchAll(/\[([^\]]*)\]/g)) {
    if (window[1] !== "$__rate_interval") problems.push(`window [${window[1]}]`);
  }
  for (const call of text.matchAll(/\b(rate|irate|increase)\s*\(/g)) {
    const argument = balanced(text, call.index + call[0].length);
    if (!argument.includes("[$__rate_interval]")) {
      problems.push(`${call[1]}( without [$__rate_interval]`);
    }
  }
  return problems;
}

/** The text from `start` up to the parenthesis that closes the one just before it. */
function balanced(text: string, start: number): string {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")" && --depth === 0) return text.slice(start, i);
  }
  return text.slice(start);
}

// ---------------------------------------------------------------------------------------------
// Live check: the real gateway, real traffic, a real Prometheus
// ---------------------------------------------------------------------------------------------

/** Sends a chat completion and reads the answer to its end; returns the status. */
async function chat(url: string, key: string, stream = false): Promise<number> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hello" }],
      max_tokens: 16,
      stream,
    }),
    signal: AbortSignal.timeout(30_000),
  });
  await response.text();
  return response.status;
}

/** Deletes every Redis key under `prefix`. */
async function deleteRedisKeys(prefix: string): Promise<void> {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2000 } });
  client.on("error", () => {});
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.del(keys);
    }
  } finally {
    await client.close();
  }
}

/** Queues the settlement of a request whose tenant no longer exists, as a request answered just
 * before its tenant was deleted would: the billing job fails, is retried once and is
 * dead-lettered (QUEUE_MAX_ATTEMPTS=2), which the queue failure and dead-letter panels and the
 * billing alert need to show something. */
async function queueUnpayableSettlement(prefix: string): Promise<void> {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2000 } });
  client.on("error", () => {});
  await client.connect();
  try {
    const traceId = `req-dashboards-${crypto.randomUUID()}`;
    const job = {
      queue: "billing",
      id: `settle:${traceId}`,
      task: "billing.settle",
      attempts: 0,
      enqueuedAt: Date.now(),
      payload: {
        traceId,
        tenantId: "tenant-deleted-before-settlement",
        apiKeyId: "key-deleted-before-settlement",
        model: "gpt-4o-mini",
        provider: "openai",
        inputTokens: 11,
        outputTokens: 7,
        costMicros: 1,
        estimated: false,
      },
    };
    await client.lPush(`${prefix}queue:billing`, JSON.stringify(job));
  } finally {
    await client.close();
  }
}

/** A Grafana target's expression as Prometheus gets it from Grafana. */
function grafanaExpr(expr: string): string {
  const substituted = expr.replaceAll("$__rate_interval", RATE_INTERVAL);
  assert(!substituted.includes("$"), `a Grafana variable the test does not know: ${expr}`);
  return substituted;
}

Deno.test("every dashboard panel and every rule returns data from a real Prometheus scraping the gateway", async (t) => {
  const prefix = `dash${crypto.randomUUID().slice(0, 8)}:`;
  // Disposed in reverse order: Prometheus, the gateway, then its Redis keys, the database and the
  // fake upstream, whatever failed.
  await using _redisKeys = { [Symbol.asyncDispose]: () => deleteRedisKeys(prefix) };
  // Two deployments of one model: `openai-us`, tried first, fails until its circuit opens; the
  // requests fall back to `openai-eu`.
  await using upstream = startFakeUpstream();
  await using failing = startFakeUpstream({ status: 500 });
  const deployment = (name: string, url: string, priority: number) => ({
    name,
    provider: "openai",
    model: "gpt-4o-mini",
    base_url: url,
    priority,
  });
  await using database = await createDatabase();
  await using gateway = await startGateway({
    env: {
      ADMIN_TOKEN,
      MODEL_ROUTES: JSON.stringify({
        "gpt-4o-mini": {
          strategy: "priority",
          deployments: [
            deployment("openai-us", failing.url, 0),
            deployment("openai-eu", upstream.url, 1),
          ],
        },
      }),
      OPENAI_API_KEY: "sk-upstream-dashboards",
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      REDIS_TIMEOUT_MS: "5000",
      QUEUE_MAX_ATTEMPTS: "2",
      UPSTREAM_MAX_ATTEMPTS: "2",
      // Only a deployment whose every call failed opens, for the rest of the test: openai-us
      // after its first two, never openai-eu, whose failures below come after its successes (the
      // 429s after them are wanted, not 503s).
      CIRCUIT_MIN_CALLS: "2",
      CIRCUIT_FAILURE_RATIO: "1",
      CIRCUIT_COOLDOWN_MS: "3600000",
    },
  });
  await using prometheus = await startPrometheus({
    targets: [`127.0.0.1:${gateway.port}`],
    ruleFiles: [RULES_FILE.pathname],
  });
  const up = () => prometheus.query('up{job="gateway"} == 1');
  await waitFor(async () => (await up()).result.length > 0 || undefined, {
    what: "the gateway scraped by Prometheus",
    timeoutMs: 30_000,
  });

  // Traffic: answered requests, JSON and streams; upstream failures; the gateway's own 429s.
  const { tenantId, key } = await createTenantWithKey(gateway, ADMIN_TOKEN, { balance_usd: 50 });
  for (let i = 0; i < 3; i++) assertEquals(await chat(gateway.url, key), 200);
  for (let i = 0; i < 2; i++) assertEquals(await chat(gateway.url, key, true), 200);
  upstream.behaviour = { status: 500 };
  for (let i = 0; i < 2; i++) assertEquals(await chat(gateway.url, key), 502);
  upstream.behaviour = {};
  const limited = await fetch(`${gateway.url}/internal/tenants/${tenantId}/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    // Its daily budget is what gateway_budget_used_ratio reports.
    body: JSON.stringify({ name: "tiny", rpm_limit: 1, budget_usd: 1, budget_period: "daily" }),
  });
  assertEquals(limited.status, 201);
  const tinyKey = (await limited.json()).key as string;
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push(await chat(gateway.url, tinyKey));
  assert(statuses.includes(429), `a key of 1 request per minute got ${statuses}`);
  await queueUnpayableSettlement(prefix);
  await gateway.waitForRecord((r) => r.message === "billing_deduct_failed", 30_000);

  // Wait for the settlement to be dead-lettered, then for a few scrapes after that, so every
  // counter has at least two samples inside the rate window.
  await waitFor(
    async () =>
      (await prometheus.query('gateway_queue_depth{queue="dead"} >= 1')).result.length > 0 ||
      undefined,
    { what: "the failed settlement dead-lettered and scraped", timeoutMs: 30_000 },
  );
  const settledAt = Date.now() / 1000;
  await waitFor(async () => {
    const [sample] = (await prometheus.query('timestamp(up{job="gateway"})')).result;
    return Number(sample?.value?.[1] ?? 0) >= settledAt + 3 || undefined;
  }, { what: "three more scrapes", timeoutMs: 30_000 });

  await t.step(
    "two deployments of one model have a circuit tile each, open and closed, and their own upstream series",
    async () => {
      const { panels } = await loadDashboard(DASHBOARD_FILES[0].url);
      const byDeployment = async (title: string) => {
        const panel = panels.find((p) => p.title === title);
        assert(panel?.targets?.[0], `a panel '${title}'`);
        const answer = await prometheus.query(grafanaExpr(panel.targets[0].expr));
        assertEquals(answer.status, "success", answer.error);
        return Object.fromEntries(
          answer.result.map((series) => [series.metric.deployment, series.value?.[1]]),
        );
      };
      assertEquals(await byDeployment("Circuit state"), { "openai-us": "2", "openai-eu": "0" });
      for (const title of ["Upstream latency by deployment", "Upstream provider breakdown"]) {
        assertEquals(Object.keys(await byDeployment(title)).sort(), ["openai-eu", "openai-us"]);
      }
      const errors = await prometheus.query(
        'sum by (deployment) (gateway_upstream_failures_total{error="server_error"})',
      );
      assertEquals(
        Object.fromEntries(errors.result.map((s) => [s.metric.deployment, Number(s.value?.[1])])),
        { "openai-us": 2, "openai-eu": 4 },
        "openai-us failed twice before it opened; openai-eu twice (one retry) per request it failed",
      );
    },
  );

  await t.step("every target of every dashboard panel returns data", async () => {
    const now = Date.now() / 1000;
    const empty: string[] = [];
    for (const file of DASHBOARD_FILES) {
      const dashboard = await loadDashboard(file.url);
      for (const panel of dashboard.panels) {
        for (const target of panel.targets ?? []) {
          assertEquals(target.datasource, DATASOURCE);
          const expr = grafanaExpr(target.expr);
          const answer = target.instant
            ? await prometheus.query(expr, now)
            : await prometheus.queryRange(expr, { start: now - 120, end: now, step: 5 });
          const where = `${file.name} panel ${panel.id} '${panel.title}' ${target.refId}`;
          assertEquals(answer.status, "success", `${where}: ${answer.error}\n${expr}`);
          if (answer.result.length === 0) empty.push(`${where}: ${expr}`);
        }
      }
    }
    assertEquals(empty, [], "panel queries without data");
  });

  await t.step(
    "every recording rule returns data, every alert parses and has a value",
    async () => {
      const { alerts, records } = await readRules();
      const rules = [...records, ...alerts];
      assert(rules.length > 0, `${RULES_FILE.pathname} holds no rules`);
      const loaded = await prometheus.rules();
      assertEquals(loaded.length, rules.length, "Prometheus loaded every rule of the file");
      const failing = loaded.filter((rule) => rule.health === "err");
      assertEquals(failing.map((r) => `${r.name}: ${r.lastError}`), [], "rules that fail");
      const empty: string[] = [];
      for (const rule of rules) {
        const name = "record" in rule ? rule.record : rule.alert;
        const answer = await prometheus.query(rule.expr);
        assertEquals(answer.status, "success", `${name}: ${answer.error}\n${rule.expr}`);
        if ("record" in rule) {
          if (answer.result.length === 0) empty.push(`recording rule ${name}: ${rule.expr}`);
          continue;
        }
        const value = alertValueQuery(rule.expr);
        const valueAnswer = await prometheus.query(value);
        assertEquals(valueAnswer.status, "success", `${name} value: ${valueAnswer.error}`);
        // absent() answers only when its series is gone: no value query can have data while the
        // gateway is up, so a successful parse is all that can be asked of it.
        if (/^absent(_over_time)?\s*\(/.test(value)) continue;
        if (valueAnswer.result.length === 0) empty.push(`alert ${name}: ${value}`);
      }
      assertEquals(empty, [], "rules without data");
    },
  );
});
