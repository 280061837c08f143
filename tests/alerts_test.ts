/**
 * The alerting kit in `alerts/`, checked by the tools Prometheus and Alertmanager ship: the rules
 * load, their unit tests pass, the Alertmanager configuration loads and routes each severity to
 * its receiver. Also: every alert has unit tests showing it firing and quiet, and every metric a
 * rule reads is one a running gateway exports. promtool and amtool are required (Debian packages
 * `prometheus` and `prometheus-alertmanager`): without them these tests fail, never skip.
 */
import { parse } from "yaml";
import { z } from "zod";
import { assert, assertEquals } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { startGateway } from "./gateway_process.ts";
import { readRules, RULES_PATH as RULES } from "./prometheus.ts";
import { openTestRedis, REDIS_URL } from "./redis_testing.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ALERTMANAGER = "alerts/alertmanager.yml";
const RULE_TESTS = "alerts/tests";

/** The Debian package each tool comes with, for the message when one is missing. */
const PACKAGE_OF: Record<string, string> = {
  promtool: "prometheus",
  amtool: "prometheus-alertmanager",
};

/** Runs one of the tools from the repository root; a missing tool is an error naming its package. */
async function runTool(
  tool: string,
  args: string[],
): Promise<{ code: number; stdout: string; output: string }> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(tool, {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `${tool} is not installed; it comes with Debian's ${PACKAGE_OF[tool]} package ` +
          `(apt-get install ${PACKAGE_OF[tool]}; CI installs it)`,
      );
    }
    throw error;
  }
  const decoder = new TextDecoder();
  const stdout = decoder.decode(result.stdout);
  return { code: result.code, stdout, output: stdout + decoder.decode(result.stderr) };
}

/** Runs a tool and fails with its whole output unless it exits 0. */
async function expectSuccess(
  tool: string,
  args: string[],
): Promise<{ stdout: string; output: string }> {
  const { code, stdout, output } = await runTool(tool, args);
  assertEquals(code, 0, `${tool} ${args.join(" ")} exited ${code}:\n${output}`);
  return { stdout, output };
}

async function ruleTestFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${RULE_TESTS}`)) {
    if (entry.isFile && entry.name.endsWith(".yml")) files.push(`${RULE_TESTS}/${entry.name}`);
  }
  assert(files.length > 0, `no rule tests in ${RULE_TESTS}`);
  return files.sort();
}

// ---------------------------------------------------------------------------------------------
// The shapes of the two YAML files, as far as these tests read them
// ---------------------------------------------------------------------------------------------

const ExpectedAlert = z.object({
  exp_labels: z.record(z.string()).default({}),
  exp_annotations: z.record(z.string()).default({}),
});
const RuleTestFile = z.object({
  rule_files: z.array(z.string()),
  tests: z.array(z.object({
    name: z.string().optional(),
    alert_rule_test: z.array(z.object({
      alertname: z.string(),
      eval_time: z.string(),
      exp_alerts: z.array(ExpectedAlert).nullish(),
    })).default([]),
    promql_expr_test: z.array(z.object({ expr: z.string() })).default([]),
  })),
});

async function readRuleTests(): Promise<Array<z.infer<typeof RuleTestFile> & { path: string }>> {
  return await Promise.all((await ruleTestFiles()).map(async (path) => ({
    path,
    ...RuleTestFile.parse(parse(await Deno.readTextFile(`${ROOT}${path}`))),
  })));
}

// ---------------------------------------------------------------------------------------------
// The tools
// ---------------------------------------------------------------------------------------------

Deno.test("promtool accepts the alerting and recording rules", async () => {
  const { output } = await expectSuccess("promtool", ["check", "rules", RULES]);
  assert(/SUCCESS: \d+ rules found/.test(output), output);
});

Deno.test("the rules pass their promtool unit tests", async () => {
  const files = await ruleTestFiles();
  const { output } = await expectSuccess("promtool", ["test", "rules", ...files]);
  for (const file of files) assert(output.includes(`Unit Testing:  ${file}`), output);
});

Deno.test("amtool accepts the Alertmanager configuration as committed", async () => {
  const { output } = await expectSuccess("amtool", ["check-config", ALERTMANAGER]);
  assert(output.includes("SUCCESS"), output);
});

const ROUTES: Array<{ labels: string[]; receiver: string; what: string }> = [
  { labels: ["severity=critical"], receiver: "pager", what: "critical alerts page" },
  { labels: ["severity=warning"], receiver: "slack", what: "warnings go to chat" },
  { labels: ["severity=info"], receiver: "default", what: "other severities go by email" },
  {
    labels: ["alertname=Watchdog"],
    receiver: "default",
    what: "alerts without a severity go by email",
  },
];
for (const route of ROUTES) {
  Deno.test(`Alertmanager routing: ${route.what} (${route.receiver})`, async () => {
    const { stdout, output } = await expectSuccess("amtool", [
      "config",
      "routes",
      "test",
      `--config.file=${ALERTMANAGER}`,
      "alertname=GatewayTest",
      ...route.labels,
    ]);
    // The matching receivers, comma-separated, are all amtool prints on standard output.
    assertEquals(stdout.trim(), route.receiver, output);
  });
}

// ---------------------------------------------------------------------------------------------
// Coverage of the unit tests, and the annotations every alert needs
// ---------------------------------------------------------------------------------------------

Deno.test("every alert carries a severity, a summary, a description and its runbook", async () => {
  const { alerts } = await readRules();
  assert(alerts.length > 0, `no alerts in ${RULES}`);
  const names = alerts.map((alert) => alert.alert);
  assertEquals(new Set(names).size, names.length, `alert names repeat: ${names.join(", ")}`);
  for (const alert of alerts) {
    const where = `${alert.alert} in ${RULES}`;
    assert(["critical", "warning"].includes(alert.labels.severity), `${where}: severity`);
    assert(alert.annotations.summary, `${where}: summary annotation`);
    assert(alert.annotations.description, `${where}: description annotation`);
    assertEquals(
      alert.annotations.runbook_url,
      `docs/operations.md#${alert.alert.toLowerCase()}`,
      `${where}: runbook_url`,
    );
  }
});

Deno.test("every alert has a unit test showing it firing and one showing it quiet", async () => {
  const { alerts, records } = await readRules();
  const testFiles = await readRuleTests();
  const firing = new Set<string>();
  const quiet = new Set<string>();
  const exprTests: string[] = [];
  for (const file of testFiles) {
    assertEquals(file.rule_files, ["../prometheus-rules.yml"], `${file.path}: rule_files`);
    for (const group of file.tests) {
      exprTests.push(...group.promql_expr_test.map((test) => test.expr));
      for (const test of group.alert_rule_test) {
        const where = `${file.path}, "${group.name}", ${test.alertname} at ${test.eval_time}`;
        const alert = alerts.find((each) => each.alert === test.alertname);
        assert(alert, `${where}: no such alert in ${RULES}`);
        if (test.exp_alerts === undefined || test.exp_alerts === null) continue;
        if (test.exp_alerts.length === 0) {
          quiet.add(test.alertname);
          continue;
        }
        for (const expected of test.exp_alerts) {
          assertEquals(expected.exp_labels.severity, alert.labels.severity, `${where}: severity`);
          for (const annotation of ["summary", "description", "runbook_url"]) {
            assert(expected.exp_annotations[annotation], `${where}: expects no ${annotation}`);
          }
        }
        firing.add(test.alertname);
      }
    }
  }
  const missing = alerts.flatMap((alert) => [
    ...firing.has(alert.alert) ? [] : [`${alert.alert} never shown firing`],
    ...quiet.has(alert.alert) ? [] : [`${alert.alert} never shown quiet (exp_alerts: [])`],
  ]);
  assertEquals(missing, [], `alerts without unit tests in ${RULE_TESTS}`);
  const unchecked = records
    .map((rule) => rule.record)
    .filter((name) => !exprTests.some((expr) => expr.includes(name)));
  assertEquals(unchecked, [], `recording rules no promql_expr_test checks`);
});

// ---------------------------------------------------------------------------------------------
// Metric names
// ---------------------------------------------------------------------------------------------

const PROMQL_KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "bool",
  "inf",
  "nan",
]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers, ranges and label lists
 * are removed first; what remains that is an identifier, not a keyword and not called like a
 * function or aggregation, is a metric name.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, "{}")
    .replace(/\[[^\]]*\]/g, "[]")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(\s*\()?/g)) {
    const [, name, call] = match;
    if (call || PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

Deno.test("the metric-name reader finds the metrics and skips functions, labels and keywords", () => {
  assertEquals(
    metricNamesIn(
      `histogram_quantile(0.95, sum by (job, le) (rate(a_seconds_bucket{path=~"/v1/.*"}[5m])))
       > 2 and on (job) b:rule:ratio offset 10m or max by (q) (c{le="2"}) unless d > bool 1e3`,
    ).sort(),
    ["a_seconds_bucket", "b:rule:ratio", "c", "d"],
  );
});

/** Every sample name a `/metrics` text can carry: histograms and summaries with their suffixes. */
function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    }
    if (type === "summary") { for (const suffix of ["_sum", "_count"]) names.add(name + suffix); }
  }
  return names;
}

Deno.test("every metric a rule reads is exported by the gateway or recorded by a rule", async () => {
  await using database = await createDatabase();
  await using redis = await openTestRedis();
  // The gateway allows a shorter prefix than the test helper's; its keys are removed at the end.
  const prefix = `alerts${crypto.randomUUID().slice(0, 8)}:`;
  await using _cleanup = {
    async [Symbol.asyncDispose]() {
      for await (const keys of redis.client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
        if (keys.length > 0) await redis.client.del(keys);
      }
    },
  };
  await using gateway = await startGateway({
    env: { DATABASE_URL: database.url, REDIS_URL, REDIS_KEY_PREFIX: prefix },
  });
  const response = await fetch(`${gateway.url}/metrics`);
  const exposition = await response.text();
  assertEquals(response.status, 200, exposition);
  const known = exportedNames(exposition);
  for (const name of ["pg_up", "redis_connected", "gateway_request_latency_seconds_bucket"]) {
    assert(known.has(name), `the gateway's /metrics lacks ${name}:\n${exposition}`);
  }

  const { alerts, records } = await readRules();
  for (const rule of records) known.add(rule.record);
  const read = new Set([...alerts, ...records].flatMap((rule) => metricNamesIn(rule.expr)));
  assert(read.has("gateway_request_total") && read.has("pg_up"), [...read].join(", "));
  const unknown = [...read].filter((name) => !known.has(name)).sort();
  assertEquals(unknown, [], `${RULES} reads metrics the gateway does not export`);
});
