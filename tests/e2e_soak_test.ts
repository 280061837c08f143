/**
 * The soak: two gateways share a private Redis and a PostgreSQL database under steady load; one
 * is killed while its billing workers hold jobs, a new one takes its place, and Redis restarts.
 * Afterwards the ledger holds exactly one row per answered request and the balance agrees.
 *
 * Redis runs with an fsync'd append-only file, so its restart is a restart, not a loss of data:
 * the queue keeps a job durable in Redis or in an instance's spool, never beyond what Redis keeps.
 */
import { assert, assertEquals } from "./assert.ts";
import { createDatabase } from "./databases.ts";
import { redisCli, startPrivateRedis } from "./redis_testing.ts";
import {
  createTenantWithKey,
  delay,
  freePort,
  type GatewayProcess,
  startGateway,
} from "./gateway_process.ts";

const ADMIN_TOKEN = "admin-token-for-soak-tests";
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
// Some 20,000 micro-dollars a request: a lost or doubled charge shows in the balance.
const PRICES = JSON.stringify({
  "mock-gpt": { input_per_1m_tokens: 1000, output_per_1m_tokens: 2000 },
});
const BILLING_WORKERS = 2;
const WORKERS = JSON.stringify({ default: 1, billing: BILLING_WORKERS, internal: 1, external: 1 });
const INITIAL_USD = 1000;
const LOAD_MS = 9000;
const MAX_REQUESTS = 600;
const LOOPS = 4;
const PACE_MS = 40;
// Every call the test makes is bounded: a hung gateway fails the test, never stalls it.
const REQUEST_TIMEOUT_MS = 10_000;
const decoder = new TextDecoder();

/** Client-side load over the instances in `targets`, each request with its own trace id. */
class Load {
  readonly targets: GatewayProcess[];
  /** Trace id to the instance that answered it 200 and when. */
  readonly answered = new Map<string, { gateway: GatewayProcess; at: number }>();
  readonly failures: string[] = [];
  readonly #key: string;
  readonly #inFlight = new Map<GatewayProcess, number>();
  #sent = 0;
  #stopped = false;

  constructor(key: string, targets: GatewayProcess[]) {
    this.#key = key;
    this.targets = [...targets];
  }

  /** Runs LOOPS paced loops until `ms` have passed, MAX_REQUESTS were sent, or stop(). */
  run(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const loop = async (n: number) => {
      for (let i = 0; !this.#stopped && Date.now() < deadline; i++) {
        if (this.#sent >= MAX_REQUESTS) return;
        this.#sent++;
        const target = this.targets[(n + i) % this.targets.length];
        await this.request(target, `soak-${n}-${i}`);
        await delay(PACE_MS);
      }
    };
    return Promise.all(Array.from({ length: LOOPS }, (_, n) => loop(n))).then(() => {});
  }

  stop(): void {
    this.#stopped = true;
  }

  /** One chat completion; a 200 counts as answered, anything else as a failure. */
  async request(target: GatewayProcess, traceId: string): Promise<void> {
    this.#inFlight.set(target, (this.#inFlight.get(target) ?? 0) + 1);
    try {
      const response = await fetch(`${target.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.#key}`,
          "content-type": "application/json",
          "x-trace-id": traceId,
        },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        body: JSON.stringify({
          model: "mock-gpt",
          max_tokens: 5,
          messages: [{ role: "user", content: "Hi" }],
        }),
      });
      const text = await response.text();
      if (response.status === 200) this.answered.set(traceId, { gateway: target, at: Date.now() });
      else this.failures.push(`${traceId}: ${response.status} ${text.slice(0, 200)}`);
    } catch (error) {
      this.failures.push(`${traceId}: ${error}`);
    } finally {
      this.#inFlight.set(target, this.#inFlight.get(target)! - 1);
    }
  }

  /** Sends nothing more to `target` and waits until its requests in flight have ended. */
  async drain(target: GatewayProcess): Promise<void> {
    this.targets.splice(this.targets.indexOf(target), 1);
    await waitUntil(() => Promise.resolve(this.#inFlight.get(target) === 0), 5000, "drained");
  }
}

/** Polls `check` every 25 ms until it holds; throws `what` after `ms`. */
async function waitUntil(check: () => Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await delay(25);
  }
  throw new Error(`Not ${what} within ${ms} ms`);
}

async function sql(databaseUrl: string, query: string): Promise<string[]> {
  const output = await new Deno.Command("psql", {
    args: ["-d", databaseUrl, "-v", "ON_ERROR_STOP=1", "-At", "-c", query],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (output.code !== 0) throw new Error(`psql failed: ${decoder.decode(output.stderr)}`);
  return decoder.decode(output.stdout).split("\n").filter((line) => line.length > 0);
}

/**
 * Inserts ledger rows for `traceIds` in a transaction left open: settling one of those requests
 * waits (on the unique trace id) until `release()` rolls it back, holding its billing worker.
 */
async function holdLedgerRows(databaseUrl: string, traceIds: string[]) {
  const name = `soak-hold-${crypto.randomUUID().slice(0, 8)}`;
  const child = new Deno.Command("psql", {
    args: ["-d", databaseUrl, "-v", "ON_ERROR_STOP=1", "-q"],
    env: { PGAPPNAME: name },
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const rows = traceIds.map((id) => `('${id}', 'hold', 'hold', 'hold', 'hold', 0, 0, 0)`);
  const release = async () => {
    await writer.write(new TextEncoder().encode("ROLLBACK;\n")).catch(() => {});
    await writer.close().catch(() => {});
    await child.status;
  };
  try {
    await writer.write(new TextEncoder().encode(
      "BEGIN;\nINSERT INTO ledger (trace_id, tenant_id, api_key_id, model, provider, " +
        `input_tokens, output_tokens, cost_micros) VALUES ${rows.join(", ")};\n`,
    ));
    const held = `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${name}' ` +
      "AND state = 'idle in transaction'";
    await waitUntil(async () => (await sql(databaseUrl, held))[0] === "1", 5000, "held");
  } catch (error) {
    await release();
    throw error;
  }
  return { release };
}

/**
 * An internal API answer. On a loaded machine a Redis call can time out, which the queue endpoints
 * answer with a 5xx: such an answer is asked for again, a bounded number of times, and any other
 * failure throws with what came back.
 */
async function adminGet(gateway: GatewayProcess, path: string) {
  for (let attempt = 1;; attempt++) {
    const response = await fetch(`${gateway.url}/internal${path}`, {
      headers: ADMIN,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await response.json();
    if (response.ok) return body;
    if (response.status < 500 || attempt === 10) {
      throw new Error(`GET /internal${path}: ${response.status} ${JSON.stringify(body)}`);
    }
    await delay(100);
  }
}

async function billingWorkerIds(gateway: GatewayProcess, count: number): Promise<string[]> {
  let ids: string[] = [];
  await waitUntil(
    async () => {
      const { workers } = await adminGet(gateway, "/queues");
      ids = workers
        .filter((w: { queue: string; alive: boolean }) => w.queue === "billing" && w.alive)
        .map((w: { id: string }) => w.id);
      return ids.length === count;
    },
    5000,
    `${count} billing workers alive`,
  );
  return ids;
}

/** A private Redis on a free port, with its data in `dir`; restartable. */
class PrivateRedis {
  readonly port = freePort();
  readonly dir: string;
  #child: Deno.ChildProcess | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  async start(): Promise<void> {
    this.#child = await startPrivateRedis({ port: this.port, dir: this.dir, persist: true });
  }

  async kill(): Promise<void> {
    if (!this.#child) return;
    this.#child.kill("SIGKILL");
    await this.#child.status;
    this.#child = undefined;
  }

  cli(...args: string[]): Promise<string> {
    return redisCli(this.port, ...args);
  }

  /** The lists under `prefix` that hold `part`, to tell where a lost job went. */
  async listsHolding(prefix: string, part: string): Promise<string[]> {
    const found: string[] = [];
    for (const key of (await this.cli("--scan", "--pattern", `${prefix}*`)).split("\n")) {
      if (await this.cli("TYPE", key) !== "list") continue;
      if ((await this.cli("LRANGE", key, "0", "-1")).includes(part)) found.push(key);
    }
    return found;
  }
}

/** Waits until the ledger has caught up with `answered` requests (at most 30 s); its usage. */
async function settledUsage(gateway: GatewayProcess, tenantId: string, answered: number) {
  const deadline = Date.now() + 30_000;
  let usage = await adminGet(gateway, `/tenants/${tenantId}/usage`);
  while (usage.requests < answered && Date.now() < deadline) {
    await delay(200);
    usage = await adminGet(gateway, `/tenants/${tenantId}/usage`);
  }
  return usage;
}

/**
 * The soak; `holds` says where reservations are held. In Redis they cannot be made while Redis is
 * down, so requests then are refused with 503 (money fails closed) instead of answered.
 */
async function soak(holds: "store" | "redis"): Promise<void> {
  await using database = await createDatabase();
  const prefix = `soak-${crypto.randomUUID().slice(0, 8)}:`;
  const dirs = {
    redis: await Deno.makeTempDir({ prefix: "gateway-soak-redis-" }),
    spoolA: await Deno.makeTempDir({ prefix: "gateway-soak-spool-a-" }),
    spoolB: await Deno.makeTempDir({ prefix: "gateway-soak-spool-b-" }),
  };
  const redis = new PrivateRedis(dirs.redis);
  const env = (spoolDir: string) => ({
    ADMIN_TOKEN,
    DATABASE_URL: database.url,
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    REDIS_KEY_PREFIX: prefix,
    MODEL_PRICES: PRICES,
    QUEUE_WORKERS: WORKERS,
    QUEUE_HEARTBEAT_TTL_MS: "2000",
    QUEUE_SPOOL_DIR: spoolDir,
    QUOTA_HOLDS: holds,
  });
  const gateways: GatewayProcess[] = [];
  let load: Load | undefined;
  let running: Promise<void> | undefined;
  let hold: { release(): Promise<void> } | undefined;
  try {
    await redis.start();
    const a = await startGateway({ env: env(dirs.spoolA) });
    gateways.push(a);
    const workersOfA = await billingWorkerIds(a, BILLING_WORKERS);
    const b = await startGateway({ env: env(dirs.spoolB) });
    gateways.push(b);
    const workersOfB = (await billingWorkerIds(a, 2 * BILLING_WORKERS))
      .filter((id) => !workersOfA.includes(id));
    const { key, tenantId } = await createTenantWithKey(a, ADMIN_TOKEN, {
      balance_usd: INITIAL_USD,
    });
    load = new Load(key, [a, b]);
    const started = Date.now();
    running = load.run(LOAD_MS);
    await delay(1500);

    // As many settles held in PostgreSQL as there are billing workers: every worker, B's
    // included, holds jobs in its processing list when B is killed.
    const held = Array.from({ length: 2 * BILLING_WORKERS }, (_, i) => `soak-held-${i}`);
    hold = await holdLedgerRows(database.url, held);
    await Promise.all(held.map((id, i) => load!.request(i % 2 === 0 ? a : b, id)));
    // B answers nothing more, so that every request it answered is known to have been answered.
    await load.drain(b);
    const everyWorkerOfBHolds = async () => {
      const lengths = workersOfB.map((id) => redis.cli("LLEN", `${prefix}processing:${id}`));
      return (await Promise.all(lengths)).every((length) => Number(length) > 0);
    };
    await waitUntil(everyWorkerOfBHolds, 5000, "B's workers busy");
    await b.stop("SIGKILL");

    // Redis restarts while A's workers drain the backlog that built up behind the held settles.
    await delay(Math.max(0, started + 3000 - Date.now()));
    await hold.release();
    await delay(50);
    await redis.kill();
    const outage = { from: Date.now(), to: Infinity };
    await delay(1000);
    await redis.start();
    outage.to = Date.now();
    // C takes B's place, with B's spool; it and A hand out again what B's workers held.
    const c = await startGateway({ env: env(dirs.spoolB) });
    gateways.push(c);
    load.targets.push(c);
    await running;

    const answered = load.answered.size;
    if (holds === "store") {
      assertEquals(load.failures, [], "every request was answered 200");
      const duringOutage = [...load.answered.values()]
        .filter(({ gateway, at }) => gateway === a && at > outage.from && at < outage.to);
      assert(duringOutage.length > 0, "A answered while Redis was down");
      assert(a.records().some((r) => r.message === "queue_job_spooled"), "A spooled jobs");
    } else {
      const unexpected = load.failures.filter((failure) => !failure.includes("quota_unavailable"));
      assertEquals(unexpected, [], "requests were answered 200, or 503 while Redis was down");
      assert(answered > 0, "requests were answered");
    }

    const usage = await settledUsage(a, tenantId, answered);
    const ledger = new Set(
      await sql(database.url, `SELECT trace_id FROM ledger WHERE tenant_id = '${tenantId}'`),
    );
    const missing: Record<string, string[]> = {};
    for (const traceId of load.answered.keys()) {
      if (!ledger.has(traceId)) missing[traceId] = await redis.listsHolding(prefix, traceId);
    }
    const extra = [...ledger].filter((traceId) => !load!.answered.has(traceId));
    assertEquals({ missing, extra }, { missing: {}, extra: [] }, "ledger rows by trace id");
    assertEquals(usage.requests, answered, "one ledger row per answered request");
    const tenant = await adminGet(a, `/tenants/${tenantId}`);
    assertEquals(
      Math.round(tenant.balance_usd * 1e6),
      Math.round((INITIAL_USD - usage.cost_usd) * 1e6),
      "the balance is the initial one minus the ledger's sum",
    );
    assert(
      [a, c].some((gw) => gw.records().some((r) => r.message === "queue_jobs_reaped")),
      "the jobs B's workers held were handed out again",
    );
    // Copies of a job run twice (a spooled push that also landed, a reaped job) may still be
    // on their way: wait, boundedly, for the queues to empty.
    const leftovers = async () => ({
      depths: await Promise.all([a, c].map(async (gateway) => {
        const { depths } = await adminGet(gateway, "/queues");
        return [depths.billing, depths.retry, depths.dead, depths.spooled];
      })),
      processing: await redis.listsHolding(`${prefix}processing:`, "billing.settle"),
    });
    const empty = { depths: [[0, 0, 0, 0], [0, 0, 0, 0]], processing: [] };
    let left = await leftovers();
    for (let i = 0; i < 50 && JSON.stringify(left) !== JSON.stringify(empty); i++) {
      await delay(200);
      left = await leftovers();
    }
    assertEquals(left, empty, "billing, retry, dead, spool and processing lists are empty");
  } finally {
    load?.stop();
    await running;
    await hold?.release();
    for (const gateway of gateways) await gateway[Symbol.asyncDispose]();
    await redis.kill();
    for (const dir of Object.values(dirs)) await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("one ledger row per answered request after a soak with an instance killed and Redis restarted", () =>
  soak("store"));

Deno.test("the same soak with reservations held in Redis: refused while it is down, never lost", () =>
  soak("redis"));
