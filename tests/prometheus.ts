/**
 * @module
 * A real Prometheus (the Debian package's `/usr/bin/prometheus`) for end-to-end tests: started on
 * a free loopback port with a temporary configuration and storage, asked through its HTTP API.
 * Also the few facts about PromQL text the tests need (string literals, top-level operators).
 */
import { parse, stringify } from "yaml";
import { z } from "zod";
import { delay, freePort } from "./gateway_process.ts";

/** The gateway's Prometheus rules, as a path from the repository root. */
export const RULES_PATH = "alerts/prometheus-rules.yml";

/** Where the rules file is on disk. */
export const RULES_FILE = new URL(`../${RULES_PATH}`, import.meta.url);

const AlertRule = z.object({
  alert: z.string(),
  expr: z.string(),
  labels: z.record(z.string()).default({}),
  annotations: z.record(z.string()).default({}),
});
const RecordingRule = z.object({ record: z.string(), expr: z.string() });
const RuleFile = z.object({
  groups: z.array(
    z.object({ name: z.string(), rules: z.array(z.union([AlertRule, RecordingRule])) }),
  ),
});

/** An alerting rule of the rules file. */
export type Alert = z.infer<typeof AlertRule>;

/** A recording rule of the rules file. */
export type Recording = z.infer<typeof RecordingRule>;

/** The alerting and recording rules of `alerts/prometheus-rules.yml`, in file order. */
export async function readRules(): Promise<{ alerts: Alert[]; records: Recording[] }> {
  const file = RuleFile.parse(parse(await Deno.readTextFile(RULES_FILE)));
  const rules = file.groups.flatMap((group) => group.rules);
  return {
    alerts: rules.filter((rule): rule is Alert => "alert" in rule),
    records: rules.filter((rule): rule is Recording => "record" in rule),
  };
}

/** Where the tests find Prometheus; `PROMETHEUS_BIN` overrides it. */
export const PROMETHEUS_BIN = Deno.env.get("PROMETHEUS_BIN") ?? "/usr/bin/prometheus";

/** Options of {@linkcode startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` addresses scraped as job `gateway`. */
  targets: string[];
  /** Rule files loaded, evaluated every scrape interval. */
  ruleFiles?: string[];
  /** Scrape and evaluation interval; default `1s`. */
  interval?: string;
}

/** A running Prometheus. */
export interface PrometheusProcess extends AsyncDisposable {
  url: string;
  /** What Prometheus logged last, for failure messages. */
  logTail(): string;
  /** Runs an instant query (`/api/v1/query`). */
  query(expr: string, time?: number): Promise<QueryAnswer>;
  /** Runs a range query (`/api/v1/query_range`) over `[start, end]`, in Unix seconds. */
  queryRange(
    expr: string,
    range: { start: number; end: number; step: number },
  ): Promise<QueryAnswer>;
  /** The rules as Prometheus loaded them (`/api/v1/rules`). */
  rules(): Promise<LoadedRule[]>;
}

/** What the query API answered: its status, the error text, and the series it returned. */
export interface QueryAnswer {
  status: "success" | "error";
  error?: string;
  result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: unknown[] }>;
}

/** One rule as `/api/v1/rules` lists it. */
export interface LoadedRule {
  name: string;
  type: "alerting" | "recording";
  health: string;
  lastError?: string;
}

/** Starts Prometheus and waits until it is ready; throws with its log when it is not. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusProcess> {
  const dir = await Deno.makeTempDir({ prefix: "gateway-prometheus-" });
  const interval = options.interval ?? "1s";
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [{ job_name: "gateway", static_configs: [{ targets: options.targets }] }],
  };
  await Deno.writeTextFile(`${dir}/prometheus.yml`, stringify(config));
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = new Deno.Command(PROMETHEUS_BIN, {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      log = (log + text).slice(-20_000);
    }
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => !exited && child.kill("SIGKILL"), 5000);
      await status;
      clearTimeout(timer);
    }
    await reading.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const api = async (path: string, params: Record<string, string>) => {
    const response = await fetch(`${url}${path}`, {
      method: "POST",
      body: new URLSearchParams(params),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await response.json();
    return body as { status: "success" | "error"; error?: string; data?: unknown };
  };
  const answer = (body: { status: "success" | "error"; error?: string; data?: unknown }) => ({
    status: body.status,
    error: body.error,
    result: (body.data as { result?: QueryAnswer["result"] } | undefined)?.result ?? [],
  });
  const prometheus: PrometheusProcess = {
    url,
    logTail: () => log.slice(-4000),
    async query(expr, time = Date.now() / 1000) {
      return answer(await api("/api/v1/query", { query: expr, time: String(time) }));
    },
    async queryRange(expr, range) {
      return answer(
        await api("/api/v1/query_range", {
          query: expr,
          start: String(range.start),
          end: String(range.end),
          step: String(range.step),
        }),
      );
    },
    async rules() {
      const response = await fetch(`${url}/api/v1/rules`, { signal: AbortSignal.timeout(10_000) });
      const body = await response.json() as {
        data: { groups: Array<{ rules: LoadedRule[] }> };
      };
      return body.data.groups.flatMap((group) => group.rules);
    },
    [Symbol.asyncDispose]: stop,
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !exited) {
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.ok) return prometheus;
    } catch {
      // Not listening yet.
    }
    await delay(100);
  }
  await stop();
  throw new Error(`Prometheus (${PROMETHEUS_BIN}) did not become ready:\n${log.slice(-4000)}`);
}

/** `expr` with the text of every string literal blanked, so brackets and operators in label
 * matchers (`status=~"[45].."`) are not taken for PromQL syntax. Offsets are kept. */
export function blankStrings(expr: string): string {
  let out = "";
  let quote: string | undefined;
  for (let i = 0; i < expr.length; i++) {
    const char = expr[i];
    if (quote === undefined) {
      if (char === '"' || char === "'" || char === "`") quote = char;
      out += char;
    } else if (char === "\\" && quote !== "`") {
      out += "  ";
      i++;
    } else if (char === quote) {
      quote = undefined;
      out += char;
    } else {
      out += " ";
    }
  }
  return out;
}

/** A binary operator found outside any parentheses, brackets or braces. */
interface TopLevelOperator {
  at: number;
  operator: string;
}

const COMPARISONS = ["==", "!=", ">=", "<=", ">", "<"];

/** The comparison and set operators of `expr` that are outside any (), [] or {}. */
function topLevelOperators(expr: string): TopLevelOperator[] {
  const text = blankStrings(expr);
  const found: TopLevelOperator[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if ("([{".includes(char)) depth++;
    else if (")]}".includes(char)) depth--;
    if (depth !== 0) continue;
    const word = /^(and|or|unless)\b/.exec(text.slice(i));
    if (word && (i === 0 || /[\s)]/.test(text[i - 1]))) {
      found.push({ at: i, operator: word[1] });
      i += word[1].length - 1;
      continue;
    }
    const comparison = COMPARISONS.find((op) => text.startsWith(op, i));
    // `=~` and `!~` only appear inside braces; a lone `=` is not an operator at the top level.
    if (comparison) {
      found.push({ at: i, operator: comparison });
      i += comparison.length - 1;
    }
  }
  return found;
}

/**
 * The value an alert looks at: its expression without the final threshold. For `A > 0.05 and B
 * > 10` that is A (comparisons bind tighter than `and`/`unless`/`or`); for `A < 0.999` it is A;
 * an expression without a top-level comparison (`absent(...)`) is returned as it is.
 */
export function alertValueQuery(expr: string): string {
  const trimmed = expr.trim();
  const operators = topLevelOperators(trimmed);
  const set = operators.find((op) =>
    op.operator === "and" || op.operator === "unless" ||
    op.operator === "or"
  );
  if (set) return alertValueQuery(trimmed.slice(0, set.at));
  const comparisons = operators.filter((op) => COMPARISONS.includes(op.operator));
  if (comparisons.length === 0) {
    return isWrapped(trimmed) ? alertValueQuery(trimmed.slice(1, -1)) : trimmed;
  }
  return trimmed.slice(0, comparisons[comparisons.length - 1].at).trim();
}

/** Whether one pair of parentheses encloses all of `expr`. */
function isWrapped(expr: string): boolean {
  if (!expr.startsWith("(") || !expr.endsWith(")")) return false;
  const text = blankStrings(expr);
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")") depth--;
    if (depth === 0 && i < text.length - 1) return false;
  }
  return true;
}
