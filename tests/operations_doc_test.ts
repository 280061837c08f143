/**
 * Keeps `docs/operations.md` true to the program: every metric with its labels and type, every
 * log event with its level, every alert with a runbook heading its `runbook_url` reaches, and
 * every PromQL example parses.
 */
import { GatewayMetrics } from "../src/observability/metrics.ts";
import { assert, assertEquals } from "./assert.ts";
import { readRules, RULES_PATH } from "./prometheus.ts";

const ROOT = new URL("../", import.meta.url);
const DOC_PATH = "docs/operations.md";

const doc = await Deno.readTextFile(new URL(DOC_PATH, ROOT));
const rows = tableRows(doc);

Deno.test("the operations guide documents every metric with its type and each of its labels", async () => {
  const metrics = everyMetric();
  const exported = await metrics.registry.getMetricsAsJSON();
  assert(exported.length > 20, `expected the gateway's metrics, found ${exported.length}`);
  for (const { name, type } of exported) {
    const row = rows.find((cells) => cells[0] === `\`${name}\``);
    assert(row, `${DOC_PATH} has no table row for the metric ${name}`);
    assertEquals(row[1], type, `the type of ${name} in ${DOC_PATH}`);
    const metric = metrics.registry.getSingleMetric(name);
    assert(metric, `${name} is registered`);
    for (const label of labelNamesOf(metric)) {
      assert(
        row[2].includes(`\`${label}\``),
        `${DOC_PATH} does not list the label ${label} of ${name} in its row`,
      );
    }
  }
});

Deno.test("the operations guide describes no metric the program does not export", async () => {
  const exported = new Set(
    (await everyMetric().registry.getMetricsAsJSON()).map((metric) => metric.name),
  );
  const documented = rows
    .filter((cells) => ["counter", "gauge", "histogram"].includes(cells[1] ?? ""))
    .map((cells) => cells[0].replaceAll("`", ""));
  assert(documented.length > 20, `expected the metric tables, found ${documented.length} rows`);
  for (const name of documented) {
    assert(exported.has(name), `${DOC_PATH} describes ${name}, which the program does not export`);
  }
});

Deno.test("the operations guide has a row for every log event the program writes, at its level", async () => {
  const calls = await logCalls();
  assert(calls.length > 20, `expected the program's logger calls, found ${calls.length}`);
  const events = new Map<string, string[]>();
  for (const cells of rows) {
    const event = /^`([a-z][a-z0-9_]*)`$/.exec(cells[0])?.[1];
    if (event !== undefined && /^[A-Z ,/]+$/.test(cells[1] ?? "")) {
      events.set(event, cells[1].split(/[ ,/]+/));
    }
  }
  for (const call of calls) {
    const documented = [...events].filter(([event]) => call.event.test(event));
    assert(
      documented.length > 0,
      `${DOC_PATH} has no row for the log event ${call.source} (${call.file})`,
    );
    assert(
      documented.some(([, levels]) => levels.includes(call.level)),
      `${DOC_PATH} does not give ${call.source} the level ${call.level} it is logged at (${call.file})`,
    );
  }
});

Deno.test("every alert has a runbook heading in the operations guide that its runbook_url reaches", async () => {
  const { alerts } = await readRules();
  assert(alerts.length > 0, `${RULES_PATH} defines no alert`);
  const anchors = headingAnchors(doc);
  for (const { alert, annotations } of alerts) {
    const url = annotations.runbook_url;
    assertEquals(
      url,
      `${DOC_PATH}#${alert.toLowerCase()}`,
      `the runbook_url of ${alert} in ${RULES_PATH}`,
    );
    assert(anchors.has(alert.toLowerCase()), `${DOC_PATH} has no heading for the alert ${alert}`);
  }
  const runbooks = section(doc, "## Runbooks").filter((line) => line.startsWith("### "));
  const names = new Set(alerts.map(({ alert }) => alert));
  for (const heading of runbooks) {
    const name = heading.slice(4).trim();
    assert(names.has(name), `${DOC_PATH} has a runbook for ${name}, which ${RULES_PATH} lacks`);
  }
});

Deno.test("every PromQL example in the operations guide parses", async () => {
  const expressions = promqlExamples(doc);
  assert(expressions.length > 10, `expected PromQL examples, found ${expressions.length}`);
  const rules = {
    groups: [{
      name: "operations_doc_examples",
      rules: expressions.map((expr, i) => ({ record: `example:${i}`, expr })),
    }],
  };
  const dir = await Deno.makeTempDir({ prefix: "operations_doc_" });
  try {
    const file = `${dir}/examples.yml`;
    await Deno.writeTextFile(file, JSON.stringify(rules));
    const { code, stdout, stderr } = await new Deno.Command("promtool", {
      args: ["check", "rules", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    assertEquals(code, 0, decoder.decode(stdout) + decoder.decode(stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The metrics with the scrape-time gauges registered too, as `src/cli/serve.ts` does with Redis and PostgreSQL. */
function everyMetric(): GatewayMetrics {
  const metrics = new GatewayMetrics();
  metrics.watchQueue({ depths: () => Promise.resolve({}), workers: () => Promise.resolve([]) });
  metrics.watchDependencies({ postgresPing: () => Promise.resolve(), redisReady: () => true });
  metrics.watchBudgets(() => Promise.resolve([]));
  return metrics;
}

/** A metric's label names: prom-client keeps them on the metric but leaves them out of its types. */
function labelNamesOf(metric: object): string[] {
  const names = (metric as { labelNames?: unknown }).labelNames;
  assert(
    Array.isArray(names) && names.every((name) => typeof name === "string"),
    "prom-client no longer keeps a metric's labelNames; read them another way",
  );
  return names;
}

/** The cells of every Markdown table row outside code blocks, trimmed, separator rows left out. */
function tableRows(markdown: string): string[][] {
  return proseLines(markdown)
    .filter((line) => line.startsWith("|") && !/^\|[\s:|-]+\|$/.test(line))
    .map((line) => line.slice(1, line.lastIndexOf("|")).split("|").map((cell) => cell.trim()));
}

/** Lines outside fenced code blocks, where a `#` starts a comment rather than a heading. */
function proseLines(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").filter((line) => {
    if (line.startsWith("```")) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** The lines of the section under `heading`, up to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string[] {
  const lines = proseLines(markdown);
  const start = lines.indexOf(heading);
  assert(start >= 0, `${DOC_PATH} has no section '${heading}'`);
  const level = heading.indexOf(" ");
  const end = lines.findIndex((line, i) =>
    i > start && /^#+ /.test(line) && line.indexOf(" ") <= level
  );
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The anchors GitHub gives the headings: lower case, punctuation dropped, spaces to `-`, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const text = /^#{1,6} (.+)$/.exec(line)?.[1];
    if (text === undefined) continue;
    const slug = text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Each blank-line-separated expression of the ```promql blocks. */
function promqlExamples(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```promql\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  return blocks.flatMap((block) => block.split(/\n\s*\n/)).map((expr) => expr.trim())
    .filter((expr) => expr.length > 0);
}

/** One logger call: where, at which level, and the event names it can log. */
interface LogCall {
  file: string;
  level: string;
  /** The literal event as written, e.g. `"request_completed"` or `` `circuit_${to}` ``. */
  source: string;
  /** Matches the event names the call can log (a template's `${…}` matches any name part). */
  event: RegExp;
}

const LEVELS: Record<string, string> = {
  debug: "DEBUG",
  info: "INFO",
  warning: "WARNING",
  error: "ERROR",
  critical: "CRITICAL",
};

// A call on anything named `logger` (`logger.`, `this.#logger.`, `options.logger.`), and its first
// argument up to the comma or parenthesis that ends it, quoted strings kept whole.
const LOGGER_CALL =
  /\blogger\s*\.\s*(debug|info|warning|error|critical)\s*\(\s*((?:"[^"]*"|'[^']*'|`[^`]*`|[^,()"'`])+)/g;
const LITERAL = /"([^"]*)"|'([^']*)'|`([^`]*)`/g;
const EVENT_NAME = /^[a-z][a-z0-9_]*$/;

/** Every logger call in `main.ts` and `src/` (tests aside) with the event names it logs. */
async function logCalls(): Promise<LogCall[]> {
  const calls: LogCall[] = [];
  for await (const file of sourceFiles()) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const [, method, argument] of text.matchAll(LOGGER_CALL)) {
      const literals = [...argument.matchAll(LITERAL)];
      if (literals.length === 0) {
        // The logging module's own wrappers pass their caller's event on.
        assert(
          file.startsWith("src/observability/"),
          `${file}: logger.${method}(${argument.trim()}, …) has no literal event name; ` +
            `write the event as a string so ${DOC_PATH} can be checked against it`,
        );
        continue;
      }
      for (const [source, double, single, template] of literals) {
        const event = double ?? single ?? template;
        const pattern = event.split(/\$\{[^}]*\}/).map(escapeRegExp).join("[a-z0-9_]+");
        assert(
          EVENT_NAME.test(event.replace(/\$\{[^}]*\}/g, "x")),
          `${file}: '${event}' is not an event name (lower case, digits, underscores)`,
        );
        calls.push({ file, level: LEVELS[method], source, event: new RegExp(`^${pattern}$`) });
      }
    }
  }
  return calls;
}

async function* sourceFiles(): AsyncGenerator<string> {
  yield "main.ts";
  const pending = ["src"];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) pending.push(path);
      else if (entry.name.endsWith(".ts") && !/(_test|_test_utils|_testing)\.ts$/.test(path)) {
        yield path;
      }
    }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
