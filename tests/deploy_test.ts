/**
 * The deployment kit under deploy/, read as the tools that consume it would read it: Kubernetes
 * manifests and filebeat's configuration as YAML, the systemd unit as INI (and by
 * `systemd-analyze` where it is installed), the env example and the Containerfile line by line.
 * Names and variables are checked against the program itself.
 */
import { parse } from "yaml";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { ConfigError, ENVIRONMENT, loadConfig } from "../src/config/mod.ts";
import { createTenantWithKey, startGateway } from "./gateway_process.ts";

const ROOT = new URL("../", import.meta.url);
const VARIABLES = new Set(Object.keys(ENVIRONMENT));

// Manifests are walked by path, as kubectl would; a wrong path fails the assertion that uses it.
// deno-lint-ignore no-explicit-any
type Yaml = Record<string, any>;

async function readText(path: string): Promise<string> {
  return await Deno.readTextFile(new URL(path, ROOT));
}

async function manifest(name: string): Promise<Yaml> {
  return parse(await readText(`deploy/k8s/${name}`)) as Yaml;
}

/** The k8s manifests, each parsed, by kind. */
async function cluster() {
  const [deployment, service, configMap, secret, hpa, pdb] = await Promise.all(
    ["deployment", "service", "configmap", "secret", "hpa", "pdb"].map((n) =>
      manifest(`${n}.yaml`)
    ),
  );
  const pod = deployment.spec.template;
  const container = pod.spec.containers.find((c: Yaml) => c.name === "gateway");
  return { deployment, service, configMap, secret, hpa, pdb, pod, container };
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

// ---------------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------------

Deno.test("the kustomization lists every manifest of deploy/k8s", async () => {
  const kustomization = await manifest("kustomization.yaml");
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL("deploy/k8s/", ROOT))) {
    if (entry.name !== "kustomization.yaml") files.push(entry.name);
  }
  assertEquals(sorted(kustomization.resources), sorted(files));
});

Deno.test("the Deployment probes the seed's /health and /ready on port 8000, named http", async () => {
  const { container } = await cluster();
  assertEquals(container.ports, [{ name: "http", containerPort: 8000, protocol: "TCP" }]);
  const portOf = (probe: Yaml) => {
    const port = probe.httpGet.port;
    return typeof port === "number"
      ? port
      : container.ports.find((p: Yaml) => p.name === port)?.containerPort;
  };
  // The seed's health-check section gives these two probes.
  const seed = {
    livenessProbe: { path: "/health", initialDelaySeconds: 10, periodSeconds: 10 },
    readinessProbe: { path: "/ready", initialDelaySeconds: 5, periodSeconds: 5 },
  };
  for (const [name, expected] of Object.entries(seed)) {
    const probe = container[name];
    assertEquals(
      [probe.httpGet.path, portOf(probe), probe.initialDelaySeconds, probe.periodSeconds],
      [expected.path, 8000, expected.initialDelaySeconds, expected.periodSeconds],
      name,
    );
    assertEquals(probe.failureThreshold, 3, name);
  }
  const startup = container.startupProbe;
  assertEquals([startup.httpGet.path, portOf(startup)], ["/health", 8000]);
  assert(startup.periodSeconds * startup.failureThreshold >= 30, "start-up gets 30 s at least");
});

Deno.test("the Deployment sets requests and limits, and a locked-down security context", async () => {
  const { pod, container, configMap } = await cluster();
  const { requests, limits } = container.resources;
  for (const resource of ["cpu", "memory"]) {
    assert(requests?.[resource], `requests.${resource}`);
    assert(limits?.[resource], `limits.${resource}`);
  }
  const mebibytes = (value: string) => Number(/^(\d+)Mi$/.exec(value)?.[1]);
  assert(mebibytes(limits.memory) >= mebibytes(requests.memory), "memory limit below request");

  const context = container.securityContext;
  assertEquals(context.runAsNonRoot ?? pod.spec.securityContext.runAsNonRoot, true);
  assert(pod.spec.securityContext.runAsUser > 0, "a numeric non-root user");
  assertEquals(context.readOnlyRootFilesystem, true);
  assertEquals(context.allowPrivilegeEscalation, false);
  assertEquals(context.capabilities, { drop: ["ALL"] });
  assertEquals(
    (context.seccompProfile ?? pod.spec.securityContext.seccompProfile).type,
    "RuntimeDefault",
  );
  // With the root read-only, what the gateway writes must be a volume.
  const mounts = container.volumeMounts.map((m: Yaml) => m.mountPath);
  for (const path of [configMap.data.DATA_DIR, "/tmp"]) {
    assert(mounts.includes(path), `${path} is not mounted: it would be read-only`);
  }
  const volumes = new Set(pod.spec.volumes.map((v: Yaml) => v.name));
  for (const mount of container.volumeMounts) assert(volumes.has(mount.name), mount.name);
});

Deno.test("pods get longer to stop than the gateway's drain takes", async () => {
  const { pod, container, configMap } = await cluster();
  const drainSeconds = Number(configMap.data.SHUTDOWN_TIMEOUT_MS) / 1000;
  const preStopSeconds = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
  // After the drain the job queue gets up to 10 s more to stop (main.ts).
  assert(
    pod.spec.terminationGracePeriodSeconds > preStopSeconds + drainSeconds + 10,
    `terminationGracePeriodSeconds ${pod.spec.terminationGracePeriodSeconds} is not above ${preStopSeconds} + ${drainSeconds} + 10`,
  );
});

Deno.test("pods carry the Prometheus scrape annotations for /metrics on the http port", async () => {
  const { pod, container } = await cluster();
  const annotations = pod.metadata.annotations;
  assertEquals(annotations["prometheus.io/scrape"], "true");
  assertEquals(annotations["prometheus.io/port"], String(container.ports[0].containerPort));
  assertEquals(annotations["prometheus.io/path"], "/metrics");
});

Deno.test("the Service, HPA and PDB all point at the Deployment's pods", async () => {
  const { deployment, service, hpa, pdb, pod } = await cluster();
  const labels: Record<string, string> = pod.metadata.labels;
  const matches = (selector: Record<string, string>) =>
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([key, value]) => labels[key] === value);
  assert(matches(deployment.spec.selector.matchLabels), "the Deployment's own selector");
  assert(matches(service.spec.selector), "the Service's selector");
  assert(matches(pdb.spec.selector.matchLabels), "the PDB's selector");
  assertEquals(service.spec.ports[0].targetPort, "http");

  assertEquals(hpa.apiVersion, "autoscaling/v2");
  assertEquals(hpa.spec.scaleTargetRef, {
    apiVersion: deployment.apiVersion,
    kind: deployment.kind,
    name: deployment.metadata.name,
  });
  assert(hpa.spec.minReplicas >= 2, "one pod at least survives a disruption");
  assert(hpa.spec.maxReplicas >= hpa.spec.minReplicas);
  assertEquals(pdb.apiVersion, "policy/v1");
  assert(pdb.spec.minAvailable < hpa.spec.minReplicas, "the PDB would block every drain");
});

Deno.test("the ConfigMap and Secret hold real variables, and the Secret only placeholders", async () => {
  const { container, configMap, secret } = await cluster();
  const sources = container.envFrom.map((s: Yaml) => s.configMapRef?.name ?? s.secretRef?.name);
  assertEquals(sources, [configMap.metadata.name, secret.metadata.name]);
  for (const [kind, data] of [["ConfigMap", configMap.data], ["Secret", secret.stringData]]) {
    for (const key of Object.keys(data)) {
      assert(VARIABLES.has(key), `${kind} key ${key} is no variable of the gateway`);
    }
  }
  for (const key of ["ADMIN_TOKEN", "OPENAI_API_KEY", "SIGNING_MASTER_KEY"]) {
    assert(!(key in configMap.data), `${key} is a secret, not configuration`);
  }
  for (const [key, value] of Object.entries<string>(secret.stringData)) {
    assert(value.includes("REPLACE_ME"), `Secret ${key} is not marked as a placeholder`);
  }

  // As shipped, the placeholders stop the gateway at start; replaced, the whole set is valid.
  const env = { ...configMap.data, ...secret.stringData };
  const error = assertThrows(() => loadConfig(env));
  assert(error instanceof ConfigError);
  assertEquals(sorted(error.problems.map((p) => p.split(":")[0])), [
    "ADMIN_TOKEN",
    "SIGNING_MASTER_KEY",
  ]);
  loadConfig({ ...env, ...realisticSecrets() });
});

/** Values of the right shape for the variables whose examples are placeholders. */
function realisticSecrets(): Record<string, string> {
  return {
    ADMIN_TOKEN: "0123456789abcdef0123456789abcdef",
    SIGNING_MASTER_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))),
  };
}

// ---------------------------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------------------------

/** A unit file's directives by section; a directive given twice keeps both values in order. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert(pair && current, `not a directive in a section: ${line}`);
    current.set(pair[1], [...(current.get(pair[1]) ?? []), pair[2].trim()]);
  }
  return sections;
}

async function unitService() {
  const text = await readText("deploy/gateway.service");
  const service = parseUnit(text).get("Service");
  assert(service, "a [Service] section");
  const one = (key: string) => {
    const values = service.get(key);
    assert(values, `${key}= is not set`);
    return values[values.length - 1];
  };
  const environment = new Map(
    (service.get("Environment") ?? []).map((pair) => pair.split("=", 2) as [string, string]),
  );
  return { text, service, one, environment };
}

Deno.test("the systemd unit runs the binary hardened, with its own user and no capability", async () => {
  const { text, service, one, environment } = await unitService();
  assertEquals(one("ExecStart"), "/usr/local/bin/gateway");
  assertEquals(one("EnvironmentFile"), "/etc/gateway/gateway.env");
  assert(one("DynamicUser") === "yes" || one("User") === "gateway", "a user of its own");
  assertEquals(one("ProtectSystem"), "strict");
  assertEquals(one("ProtectHome"), "yes");
  assertEquals(one("PrivateTmp"), "yes");
  assertEquals(one("NoNewPrivileges"), "yes");
  assertEquals(one("CapabilityBoundingSet"), "");
  assertEquals(sorted(one("RestrictAddressFamilies").split(/\s+/)), [
    "AF_INET",
    "AF_INET6",
    "AF_UNIX",
  ]);
  assertEquals(service.get("SystemCallFilter")?.[0], "@system-service");
  // V8's JIT needs memory that is written and then executed.
  assert(!service.has("MemoryDenyWriteExecute"), "MemoryDenyWriteExecute would crash V8");
  const why = /^# MemoryDenyWriteExecute=.*(?:\n#.*)*/m.exec(text)?.[0] ?? "";
  assert(why.includes("JIT"), "the comment saying why it is not set");

  // Only the data and log folders are writable, and the gateway writes nowhere else.
  const writable = one("ReadWritePaths").split(/\s+/);
  const logDir = environment.get("LOG_FILE_PATH")?.replace(/\/[^/]+$/, "");
  assertEquals(sorted(writable), sorted([environment.get("DATA_DIR")!, logDir!]));
  for (const name of environment.keys()) {
    assert(VARIABLES.has(name) || name === "DENO_DIR", `Environment=${name} is no variable`);
  }
  assert(environment.get("DENO_DIR")?.startsWith("/tmp/"), "Deno's cache on the private /tmp");
});

Deno.test("the systemd unit stops on SIGTERM and waits out the drain before SIGKILL", async () => {
  const { one } = await unitService();
  assertEquals(one("KillSignal"), "SIGTERM");
  assertEquals(one("Restart"), "on-failure");
  const drainSeconds = Number(ENVIRONMENT.SHUTDOWN_TIMEOUT_MS.default) / 1000;
  // The drain, then up to 10 s for the job queue to stop.
  assert(Number(one("TimeoutStopSec")) > drainSeconds + 10, "TimeoutStopSec above the drain");
});

const systemdAnalyze = await new Deno.Command("systemd-analyze", { args: ["--version"] })
  .output().then((output) => output.success, () => false);

Deno.test({
  name: "systemd-analyze verifies the unit and rates its exposure 2.0 or lower",
  // CI installs systemd (.ci/run); elsewhere this one test is skipped, named as ignored.
  ignore: !systemdAnalyze,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "gateway-unit-" });
    try {
      // verify insists that ExecStart exists; everything else is the shipped unit.
      const unit = (await readText("deploy/gateway.service"))
        .replace(/^ExecStart=.*$/m, `ExecStart=${Deno.execPath()}`);
      const path = `${dir}/gateway.service`;
      await Deno.writeTextFile(path, unit);
      const run = async (args: string[]) => {
        const output = await new Deno.Command("systemd-analyze", {
          args,
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(60_000),
        }).output();
        const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
        return { code: output.code, text: decode(output.stdout) + decode(output.stderr) };
      };
      const verify = await run(["verify", path]);
      assertEquals([verify.code, verify.text.trim()], [0, ""], "systemd-analyze verify");
      const security = await run(["security", "--offline=true", "--threshold=20", path]);
      assertEquals(security.code, 0, `exposure above 2.0:\n${security.text.slice(-400)}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------
// The env example
// ---------------------------------------------------------------------------------------------

Deno.test("the env example sets only real variables, its secrets as placeholders", async () => {
  const env: Record<string, string> = {};
  for (const line of (await readText("deploy/gateway.env.example")).split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const pair = /^([A-Z_]+)=(.*)$/.exec(line);
    assert(pair, `not KEY=VALUE: ${line}`);
    assert(VARIABLES.has(pair[1]), `${pair[1]} is no variable of the gateway`);
    env[pair[1]] = pair[2];
  }
  for (const key of ["ADMIN_TOKEN", "OPENAI_API_KEY", "SIGNING_MASTER_KEY", "DATABASE_URL"]) {
    assert(/<[a-z0-9-]+>/.test(env[key] ?? ""), `${key} is not a <placeholder>`);
  }
  const error = assertThrows(() => loadConfig(env));
  assert(error instanceof ConfigError);
  assertEquals(sorted(error.problems.map((p) => p.split(":")[0])), [
    "ADMIN_TOKEN",
    "SIGNING_MASTER_KEY",
  ]);
  const config = loadConfig({ ...env, ...realisticSecrets() });
  assertEquals([config.HOST, config.PORT], ["0.0.0.0", 8000]);
});

// ---------------------------------------------------------------------------------------------
// The Containerfile
// ---------------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** Instructions with their continuation lines joined, each with the index of its stage. */
function parseContainerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, " ");
  const instructions: Instruction[] = [];
  let stage = -1;
  for (const line of joined.split("\n")) {
    const match = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!match || line.trim().startsWith("#")) continue;
    if (match[1] === "FROM") stage++;
    instructions.push({ keyword: match[1], args: match[2].replace(/\s+/g, " "), stage });
  }
  return instructions;
}

Deno.test("the Containerfile compiles in a build stage and runs as non-root with a healthcheck", async () => {
  const instructions = parseContainerfile(await readText("deploy/Containerfile"));
  const all = (keyword: string, stage?: number) =>
    instructions.filter((i) => i.keyword === keyword && (stage === undefined || i.stage === stage));
  const froms = all("FROM");
  assertEquals(froms.length, 2, "a build stage and a runtime stage");
  assert(/^node:\S+ AS build$/.test(froms[0].args), froms[0].args);
  const runtime = froms[1].stage;

  // Deno from npm at the version CI uses, then the compile task.
  const ciVersion = /^DENO_VERSION=(\S+)$/m.exec(await readText(".ci/run"))?.[1];
  assertEquals(all("ARG", 0).map((i) => i.args), [`DENO_VERSION=${ciVersion}`]);
  const buildRuns = all("RUN", 0).map((i) => i.args);
  assert(buildRuns.some((r) => r.includes('npm install -g "deno@${DENO_VERSION}"')), "deno");
  assert(buildRuns.some((r) => r.startsWith("deno task compile ")), "deno task compile");
  for (const copy of all("COPY", 0)) {
    for (const source of copy.args.split(" ").slice(0, -1)) {
      await Deno.stat(new URL(source, ROOT)); // every source of the build exists
    }
  }

  assert(/^gcr\.io\/distroless\/\S+:nonroot$/.test(froms[1].args), froms[1].args);
  assertEquals(all("RUN", runtime), [], "the runtime image has no shell to run anything");
  const user = all("USER", runtime).at(-1)?.args ?? "";
  assert(!/^(root|0)(:|$)/.test(user) && user !== "", `USER ${user}`);
  assertEquals(all("EXPOSE", runtime).map((i) => i.args), ["8000"]);
  assertEquals(all("STOPSIGNAL", runtime).map((i) => i.args), ["SIGTERM"]);
  const entrypoint = JSON.parse(all("ENTRYPOINT", runtime)[0].args) as string[];
  const healthcheck = all("HEALTHCHECK", runtime)[0]?.args ?? "";
  const command = JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD ") + 4)) as string[];
  assertEquals(command, [...entrypoint, "healthcheck"]);

  const env = new Map(
    all("ENV", runtime).flatMap((i) =>
      i.args.split(" ").map((pair) => pair.split("=", 2) as [string, string])
    ),
  );
  for (const name of env.keys()) assert(VARIABLES.has(name), `ENV ${name} is no variable`);
  assertEquals(env.get("PORT"), "8000");
  assertEquals(all("VOLUME", runtime).map((i) => JSON.parse(i.args)), [[env.get("DATA_DIR")]]);
  // Nothing secret is baked into the image, as ENV, ARG or otherwise.
  const text = instructions.map((i) => `${i.keyword} ${i.args}`).join("\n");
  for (const secret of ["ADMIN_TOKEN", "OPENAI_API_KEY", "SIGNING_MASTER_KEY", "DATABASE_URL"]) {
    assert(!text.includes(secret), `${secret} appears in the Containerfile`);
  }
});

// ---------------------------------------------------------------------------------------------
// filebeat
// ---------------------------------------------------------------------------------------------

/** The keys of a JSON log record, nested ones dotted: `tokens.input`. */
function fieldNames(record: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(record).flatMap(([key, value]) =>
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? fieldNames(value as Record<string, unknown>, `${prefix}${key}.`)
      : [`${prefix}${key}`]
  );
}

Deno.test("filebeat reads the unit's log file as JSON and maps the fields the gateway writes", async () => {
  const filebeat = parse(await readText("deploy/filebeat.yml")) as Yaml;
  const input = filebeat["filebeat.inputs"][0];
  assertEquals(input.type, "filestream");
  const { environment } = await unitService();
  const logFile = environment.get("LOG_FILE_PATH")!;
  const glob = new RegExp(`^${input.paths[0].replaceAll(".", "\\.").replaceAll("*", "[^/]*")}$`);
  assert(glob.test(logFile), `${input.paths[0]} does not match ${logFile}`);
  assert(!glob.test(`${logFile}.1`), "rotated files would be read a second time");
  assertEquals(input.parsers[0].ndjson.target, "");

  // The fields of a real request's line, from the real program.
  const adminToken = "deploy-test-admin-token-0123";
  await using gw = await startGateway({ env: { ADMIN_TOKEN: adminToken } });
  const { key } = await createTenantWithKey(gw, adminToken, { name: "filebeat" });
  const response = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Hi" }] }),
  });
  assertEquals(response.status, 200, await response.text());
  const line = await gw.waitForRecord((r) =>
    r.message === "request_completed" && r.path === "/v1/chat/completions"
  );
  const written = new Set(fieldNames(line));

  const mapped: string[] = filebeat["setup.template.append_fields"].map((f: Yaml) => f.name);
  for (const name of mapped) assert(written.has(name), `filebeat maps ${name}, never written`);
  for (
    const name of [
      "trace_id",
      "tenant_id",
      "api_key_id",
      "model",
      "latency_ms",
      "status_code",
      "tokens.input",
      "tokens.output",
    ]
  ) {
    assert(written.has(name), `the gateway no longer writes ${name}`);
    assert(mapped.includes(name), `filebeat does not map ${name}`);
  }
  const timestamp = filebeat.processors.find((p: Yaml) => p.timestamp).timestamp;
  assertEquals(timestamp.field, "timestamp");
  // Go's layout "…05.999Z" reads the gateway's millisecond UTC timestamps, like the test value.
  for (const sample of [String(line.timestamp), timestamp.test[0]]) {
    assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(sample), sample);
  }
  assertEquals(timestamp.layouts, ["2006-01-02T15:04:05.999Z"]);
  assertEquals(filebeat["output.elasticsearch"].index, "gateway-logs-%{+yyyy.MM.dd}");
});
