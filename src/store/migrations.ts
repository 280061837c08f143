/** One schema change, written once per dialect because the two differ in types and defaults. */
export interface Migration {
  /** Applied in ascending order; never reuse or renumber a version once released. */
  version: number;
  name: string;
  postgres: string;
  sqlite: string;
}

// The CHECKs keep balances inside Number.MAX_SAFE_INTEGER, so a runaway balance fails the write
// atomically instead of coming back as a number JavaScript cannot hold.
const SAFE_BALANCE = "balance_micros BETWEEN -9007199254740991 AND 9007199254740991";
// Limits are 64-bit like balances, so every positive safe integer the stores accept fits in both
// dialects (PostgreSQL's 32-bit integer would refuse what SQLite takes).
const limit = (column: string) => `${column} BETWEEN 1 AND 9007199254740991`;
const BUDGET = "budget_micros BETWEEN 0 AND 9007199254740991";
const BUDGET_PERIOD = "budget_period IN ('daily', 'weekly', 'monthly')";
const SIGNATURE_NEEDS_SECRET = "api_keys_signature_needs_secret";
// Amounts that may not go below zero: reservations, spend, costs and token counts.
const nonNegative = (column: string) => `${column} BETWEEN 0 AND 9007199254740991`;
// A model allowlist column holds null (every model) or a JSON array, tested in each dialect.
const MODEL_LIST = {
  postgres: "models IS NULL OR jsonb_typeof(models::jsonb) = 'array'",
  sqlite: "models IS NULL OR (json_valid(models) AND json_type(models) = 'array')",
} as const;

/**
 * `gateway_settle_many`, which writes a batch's ledger rows and charges each tenant and key once,
 * with the ledger's columns beyond the first release's (`columns` and `values` to insert, each
 * starting with a comma) so that a later migration can replace it as the ledger grows.
 */
function settleManyFunction(
  create: "CREATE" | "CREATE OR REPLACE",
  ledger: { columns: string; values: string },
): string {
  return `
      ${create} FUNCTION gateway_settle_many(p_batch jsonb) RETURNS text[]
      LANGUAGE plpgsql AS $fn$
      DECLARE
        v_traces text[];
        v_tenants text[];
        v_keys text[];
        v_costs bigint[];
        v_held_traces text[];
        v_held_amounts bigint[];
        v_mismatched text;
        v_charge record;
        v_outcomes text[];
      BEGIN
        -- The unique trace id makes a second settle a no-op, a repeat within the batch too; ON
        -- CONFLICT waits for a concurrent first one to commit or roll back before deciding.
        WITH inserted AS (
          INSERT INTO ledger (trace_id, tenant_id, api_key_id, model, provider, input_tokens,
            output_tokens, cost_micros, estimated${ledger.columns})
          SELECT e->>'traceId', e->>'tenantId', e->>'apiKeyId', e->>'model', e->>'provider',
            (e->>'inputTokens')::bigint, (e->>'outputTokens')::bigint,
            (e->>'costMicros')::bigint, (e->>'estimated')::boolean${ledger.values}
          FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS batch(e, n)
          ORDER BY n
          ON CONFLICT (trace_id) DO NOTHING
          RETURNING trace_id, tenant_id, api_key_id, cost_micros
        )
        SELECT array_agg(trace_id), array_agg(tenant_id), array_agg(api_key_id),
          array_agg(cost_micros)
        INTO v_traces, v_tenants, v_keys, v_costs
        FROM inserted;

        IF v_traces IS NOT NULL THEN
          WITH held AS (
            DELETE FROM reservations AS r
            USING unnest(v_traces, v_tenants, v_keys) AS s(trace_id, tenant_id, api_key_id)
            WHERE r.trace_id = s.trace_id
            RETURNING r.trace_id, r.amount_micros,
              r.tenant_id <> s.tenant_id OR r.api_key_id <> s.api_key_id AS mismatched
          )
          SELECT array_agg(trace_id), array_agg(amount_micros),
            min(trace_id) FILTER (WHERE mismatched)
          INTO v_held_traces, v_held_amounts, v_mismatched
          FROM held;
          IF v_mismatched IS NOT NULL THEN
            RAISE EXCEPTION 'Cannot settle as the reservation of trace % is of another tenant or key',
              v_mismatched USING ERRCODE = 'foreign_key_violation';
          END IF;

          -- The cost may exceed what was reserved: the balance then dips below the margin by
          -- that request's own excess, which is charged rather than lost.
          FOR v_charge IN
            SELECT s.tenant_id, sum(s.cost) AS cost, coalesce(sum(h.amount), 0) AS held
            FROM unnest(v_traces, v_tenants, v_costs) AS s(trace_id, tenant_id, cost)
            LEFT JOIN unnest(v_held_traces, v_held_amounts) AS h(trace_id, amount)
              USING (trace_id)
            GROUP BY s.tenant_id ORDER BY s.tenant_id
          LOOP
            UPDATE tenants SET balance_micros = balance_micros - v_charge.cost,
              reserved_micros = reserved_micros - v_charge.held
            WHERE id = v_charge.tenant_id;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'Cannot settle as tenant % does not exist', v_charge.tenant_id
                USING ERRCODE = 'foreign_key_violation';
            END IF;
          END LOOP;

          FOR v_charge IN
            SELECT s.tenant_id, s.api_key_id, sum(s.cost) AS cost,
              coalesce(sum(h.amount), 0) AS held
            FROM unnest(v_traces, v_tenants, v_keys, v_costs)
              AS s(trace_id, tenant_id, api_key_id, cost)
            LEFT JOIN unnest(v_held_traces, v_held_amounts) AS h(trace_id, amount)
              USING (trace_id)
            GROUP BY s.tenant_id, s.api_key_id ORDER BY s.api_key_id
          LOOP
            UPDATE api_keys SET spent_micros = spent_micros + v_charge.cost,
              reserved_micros = reserved_micros - v_charge.held
            WHERE id = v_charge.api_key_id AND tenant_id = v_charge.tenant_id;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'Cannot settle as API key % does not exist or is not of tenant %',
                v_charge.api_key_id, v_charge.tenant_id USING ERRCODE = 'foreign_key_violation';
            END IF;
          END LOOP;
        END IF;

        -- In the batch's order: the first of a trace id that went into the ledger is settled,
        -- anything else a duplicate.
        SELECT array_agg(CASE WHEN first AND trace_id = ANY (coalesce(v_traces, '{}'))
            THEN 'settled' ELSE 'duplicate' END ORDER BY n)
        INTO v_outcomes
        FROM (
          SELECT e->>'traceId' AS trace_id, n,
            row_number() OVER (PARTITION BY e->>'traceId' ORDER BY n) = 1 AS first
          FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS batch(e, n)
        ) AS items;
        RETURN v_outcomes;
      END
      $fn$;
`;
}

/**
 * Every migration, oldest first. To change the schema, append an entry with the next version;
 * `migrate()` applies the ones a database has not seen, all in one transaction.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "tenants, api keys and audit log",
    postgres: `
      CREATE TABLE tenants (
        id text PRIMARY KEY,
        name text NOT NULL,
        balance_micros bigint NOT NULL DEFAULT 0 CHECK (${SAFE_BALANCE}),
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        tenant_id text NOT NULL REFERENCES tenants (id),
        name text NOT NULL,
        key_hash text NOT NULL UNIQUE,
        prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      );
      CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at);
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        tenant_id text,
        target text,
        trace_id text,
        details jsonb NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
      CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, created_at DESC, id DESC);
      CREATE INDEX audit_log_trace_idx ON audit_log (trace_id);
    `,
    // Times are integer milliseconds since the epoch: exact to compare and sort, unlike text.
    sqlite: `
      CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        balance_micros INTEGER NOT NULL DEFAULT 0 CHECK (${SAFE_BALANCE}),
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, created_at);
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        tenant_id TEXT,
        target TEXT,
        trace_id TEXT,
        details TEXT NOT NULL DEFAULT '{}'
      ) STRICT;
      CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
      CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, created_at DESC, id DESC);
      CREATE INDEX audit_log_trace_idx ON audit_log (trace_id);
    `,
  },
  {
    version: 2,
    name: "limits, budgets and request signing",
    postgres: `
      ALTER TABLE tenants
        ADD COLUMN rpm_limit bigint CHECK (${limit("rpm_limit")}),
        ADD COLUMN tpm_limit bigint CHECK (${limit("tpm_limit")});
      ALTER TABLE api_keys
        ADD COLUMN rpm_limit bigint CHECK (${limit("rpm_limit")}),
        ADD COLUMN tpm_limit bigint CHECK (${limit("tpm_limit")}),
        ADD COLUMN budget_micros bigint CHECK (${BUDGET}),
        ADD COLUMN require_signature boolean NOT NULL DEFAULT false,
        ADD COLUMN signing_secret_sealed text,
        ADD CONSTRAINT ${SIGNATURE_NEEDS_SECRET}
          CHECK (NOT require_signature OR signing_secret_sealed IS NOT NULL);
    `,
    // SQLite adds one column per statement and no table constraints, so the check that spans two
    // columns rides on the second of them; SQLite lets a column's CHECK read the whole row.
    sqlite: `
      ALTER TABLE tenants ADD COLUMN rpm_limit INTEGER CHECK (${limit("rpm_limit")});
      ALTER TABLE tenants ADD COLUMN tpm_limit INTEGER CHECK (${limit("tpm_limit")});
      ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER CHECK (${limit("rpm_limit")});
      ALTER TABLE api_keys ADD COLUMN tpm_limit INTEGER CHECK (${limit("tpm_limit")});
      ALTER TABLE api_keys ADD COLUMN budget_micros INTEGER CHECK (${BUDGET});
      ALTER TABLE api_keys ADD COLUMN require_signature INTEGER NOT NULL DEFAULT 0
        CHECK (require_signature IN (0, 1));
      ALTER TABLE api_keys ADD COLUMN signing_secret_sealed TEXT
        CONSTRAINT ${SIGNATURE_NEEDS_SECRET}
        CHECK (require_signature = 0 OR signing_secret_sealed IS NOT NULL);
    `,
  },
  {
    version: 3,
    name: "reservations, spend and the ledger",
    // A reservation's amount is held in reserved_micros of its tenant and key until it is settled,
    // released or expires; the ledger is unique by trace id so settling twice charges once.
    // In PostgreSQL, reservations and ledger rows have no foreign keys: each insert's key-share
    // lock on the tenant's row, taken just before the same transaction updates that row, turns
    // every hot tenant row into a multixact and halved one tenant's reserve+settle throughput
    // (310 against 640 pairs/s measured). The functions of migration 4 check that the tenant and
    // the key exist, under their row locks, instead; tenants and keys are never deleted.
    postgres: `
      ALTER TABLE tenants
        ADD COLUMN reserved_micros bigint NOT NULL DEFAULT 0 CHECK (${
      nonNegative("reserved_micros")
    });
      ALTER TABLE api_keys
        ADD COLUMN spent_micros bigint NOT NULL DEFAULT 0 CHECK (${nonNegative("spent_micros")}),
        ADD COLUMN reserved_micros bigint NOT NULL DEFAULT 0 CHECK (${
      nonNegative("reserved_micros")
    });
      CREATE TABLE reservations (
        trace_id text PRIMARY KEY,
        tenant_id text NOT NULL,
        api_key_id text NOT NULL,
        amount_micros bigint NOT NULL CHECK (amount_micros BETWEEN 1 AND 9007199254740991),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX reservations_expires_idx ON reservations (expires_at);
      CREATE TABLE ledger (
        id bigserial PRIMARY KEY,
        trace_id text NOT NULL UNIQUE,
        tenant_id text NOT NULL,
        api_key_id text NOT NULL,
        model text NOT NULL,
        provider text NOT NULL,
        input_tokens bigint NOT NULL CHECK (${nonNegative("input_tokens")}),
        output_tokens bigint NOT NULL CHECK (${nonNegative("output_tokens")}),
        cost_micros bigint NOT NULL CHECK (${nonNegative("cost_micros")}),
        estimated boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX ledger_tenant_created_idx ON ledger (tenant_id, created_at DESC, id DESC);
      CREATE INDEX ledger_api_key_created_idx ON ledger (api_key_id, created_at DESC);
    `,
    sqlite: `
      ALTER TABLE tenants ADD COLUMN reserved_micros INTEGER NOT NULL DEFAULT 0
        CHECK (${nonNegative("reserved_micros")});
      ALTER TABLE api_keys ADD COLUMN spent_micros INTEGER NOT NULL DEFAULT 0
        CHECK (${nonNegative("spent_micros")});
      ALTER TABLE api_keys ADD COLUMN reserved_micros INTEGER NOT NULL DEFAULT 0
        CHECK (${nonNegative("reserved_micros")});
      CREATE TABLE reservations (
        trace_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        api_key_id TEXT NOT NULL REFERENCES api_keys (id),
        amount_micros INTEGER NOT NULL CHECK (amount_micros BETWEEN 1 AND 9007199254740991),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX reservations_expires_idx ON reservations (expires_at);
      CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        api_key_id TEXT NOT NULL REFERENCES api_keys (id),
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        input_tokens INTEGER NOT NULL CHECK (${nonNegative("input_tokens")}),
        output_tokens INTEGER NOT NULL CHECK (${nonNegative("output_tokens")}),
        cost_micros INTEGER NOT NULL CHECK (${nonNegative("cost_micros")}),
        estimated INTEGER NOT NULL DEFAULT 0 CHECK (estimated IN (0, 1)),
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX ledger_tenant_created_idx ON ledger (tenant_id, created_at DESC, id DESC);
      CREATE INDEX ledger_api_key_created_idx ON ledger (api_key_id, created_at DESC);
    `,
  },
  {
    version: 4,
    name: "reserve, settle and release as functions",
    // One round trip per call instead of five or six, so a tenant's row lock is held for the
    // server's work and the commit only, which bounds how many requests of one tenant go through
    // per second. Every function takes its locks in one order (reservation or ledger row, then
    // tenant, then key), as the sweeper does, so concurrent calls queue instead of deadlocking.
    // SQLite runs in the gateway's process and needs none of this: its store has the same steps.
    postgres: `
      CREATE FUNCTION gateway_reserve(p_trace_id text, p_tenant_id text, p_api_key_id text,
        p_amount bigint, p_margin bigint, p_expires_at timestamptz) RETURNS text
      LANGUAGE plpgsql AS $fn$
      BEGIN
        -- A trace id already reserved or settled holds (or held) its money: reserving it again
        -- would hold the amount twice, or forever after the settle. ON CONFLICT waits for a
        -- concurrent first reserve of the same trace id to commit or roll back.
        IF EXISTS (SELECT 1 FROM ledger WHERE trace_id = p_trace_id) THEN
          RETURN 'ok';
        END IF;
        INSERT INTO reservations (trace_id, tenant_id, api_key_id, amount_micros, expires_at)
        VALUES (p_trace_id, p_tenant_id, p_api_key_id, p_amount, p_expires_at)
        ON CONFLICT (trace_id) DO NOTHING;
        IF NOT FOUND THEN
          RETURN 'ok';
        END IF;
        -- Conditional UPDATEs re-check their WHERE on the newest row version after waiting for
        -- its lock, so two instances can never both take the last of a balance.
        UPDATE tenants SET reserved_micros = reserved_micros + p_amount
        WHERE id = p_tenant_id AND balance_micros - reserved_micros - p_amount >= -p_margin;
        IF NOT FOUND THEN
          IF NOT EXISTS (SELECT 1 FROM tenants WHERE id = p_tenant_id) THEN
            RAISE EXCEPTION 'Cannot reserve as tenant % does not exist', p_tenant_id
              USING ERRCODE = 'foreign_key_violation';
          END IF;
          DELETE FROM reservations WHERE trace_id = p_trace_id;
          RETURN 'tenant_balance';
        END IF;
        UPDATE api_keys SET reserved_micros = reserved_micros + p_amount
        WHERE id = p_api_key_id AND tenant_id = p_tenant_id
          AND (budget_micros IS NULL
            OR spent_micros + reserved_micros + p_amount <= budget_micros + p_margin);
        IF NOT FOUND THEN
          IF NOT EXISTS (
            SELECT 1 FROM api_keys WHERE id = p_api_key_id AND tenant_id = p_tenant_id
          ) THEN
            RAISE EXCEPTION 'Cannot reserve as API key % does not exist or is not of tenant %',
              p_api_key_id, p_tenant_id USING ERRCODE = 'foreign_key_violation';
          END IF;
          -- Undone under the locks this transaction holds, which is the same as rolling back,
          -- without an error in the server's log for every refusal.
          UPDATE tenants SET reserved_micros = reserved_micros - p_amount WHERE id = p_tenant_id;
          DELETE FROM reservations WHERE trace_id = p_trace_id;
          RETURN 'key_budget';
        END IF;
        RETURN 'ok';
      END
      $fn$;

      CREATE FUNCTION gateway_settle(p_trace_id text, p_tenant_id text, p_api_key_id text,
        p_model text, p_provider text, p_input_tokens bigint, p_output_tokens bigint,
        p_cost bigint, p_estimated boolean) RETURNS text
      LANGUAGE plpgsql AS $fn$
      DECLARE
        held reservations%ROWTYPE;
      BEGIN
        -- The unique trace id makes a second settle a no-op; ON CONFLICT waits for a concurrent
        -- first one to commit or roll back before deciding.
        INSERT INTO ledger (trace_id, tenant_id, api_key_id, model, provider, input_tokens,
          output_tokens, cost_micros, estimated)
        VALUES (p_trace_id, p_tenant_id, p_api_key_id, p_model, p_provider, p_input_tokens,
          p_output_tokens, p_cost, p_estimated)
        ON CONFLICT (trace_id) DO NOTHING;
        IF NOT FOUND THEN
          RETURN 'duplicate';
        END IF;
        DELETE FROM reservations WHERE trace_id = p_trace_id RETURNING * INTO held;
        IF held.trace_id IS NOT NULL
          AND (held.tenant_id <> p_tenant_id OR held.api_key_id <> p_api_key_id) THEN
          RAISE EXCEPTION 'Cannot settle as the reservation of trace % is of another tenant or key',
            p_trace_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        -- The cost may exceed what was reserved: the balance then dips below the margin by that
        -- request's own excess, which is charged rather than lost.
        UPDATE tenants SET balance_micros = balance_micros - p_cost,
          reserved_micros = reserved_micros - coalesce(held.amount_micros, 0)
        WHERE id = p_tenant_id;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'Cannot settle as tenant % does not exist', p_tenant_id
            USING ERRCODE = 'foreign_key_violation';
        END IF;
        UPDATE api_keys SET spent_micros = spent_micros + p_cost,
          reserved_micros = reserved_micros - coalesce(held.amount_micros, 0)
        WHERE id = p_api_key_id AND tenant_id = p_tenant_id;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'Cannot settle as API key % does not exist or is not of tenant %',
            p_api_key_id, p_tenant_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN 'settled';
      END
      $fn$;

      CREATE FUNCTION gateway_release(p_trace_id text) RETURNS void
      LANGUAGE plpgsql AS $fn$
      DECLARE
        held reservations%ROWTYPE;
      BEGIN
        DELETE FROM reservations WHERE trace_id = p_trace_id RETURNING * INTO held;
        IF held.trace_id IS NULL THEN
          RETURN;
        END IF;
        UPDATE tenants SET reserved_micros = reserved_micros - held.amount_micros
        WHERE id = held.tenant_id;
        UPDATE api_keys SET reserved_micros = reserved_micros - held.amount_micros
        WHERE id = held.api_key_id;
      END
      $fn$;
    `,
    sqlite: "",
  },
  {
    version: 5,
    name: "a reused trace id is refused, not reserved for free",
    // Before this, a second request reusing a trace id was told 'ok' without a reservation and
    // its charge was dropped as a duplicate of the first one's ledger row: free requests.
    postgres: `
      CREATE OR REPLACE FUNCTION gateway_reserve(p_trace_id text, p_tenant_id text, p_api_key_id text,
        p_amount bigint, p_margin bigint, p_expires_at timestamptz) RETURNS text
      LANGUAGE plpgsql AS $fn$
      BEGIN
        -- A trace id names one request: one already reserved or settled belongs to another
        -- request, which must not ride on its reservation or its ledger row. ON CONFLICT waits
        -- for a concurrent first reserve of the same trace id to commit or roll back.
        IF EXISTS (SELECT 1 FROM ledger WHERE trace_id = p_trace_id) THEN
          RETURN 'duplicate';
        END IF;
        INSERT INTO reservations (trace_id, tenant_id, api_key_id, amount_micros, expires_at)
        VALUES (p_trace_id, p_tenant_id, p_api_key_id, p_amount, p_expires_at)
        ON CONFLICT (trace_id) DO NOTHING;
        IF NOT FOUND THEN
          RETURN 'duplicate';
        END IF;
        -- Conditional UPDATEs re-check their WHERE on the newest row version after waiting for
        -- its lock, so two instances can never both take the last of a balance.
        UPDATE tenants SET reserved_micros = reserved_micros + p_amount
        WHERE id = p_tenant_id AND balance_micros - reserved_micros - p_amount >= -p_margin;
        IF NOT FOUND THEN
          IF NOT EXISTS (SELECT 1 FROM tenants WHERE id = p_tenant_id) THEN
            RAISE EXCEPTION 'Cannot reserve as tenant % does not exist', p_tenant_id
              USING ERRCODE = 'foreign_key_violation';
          END IF;
          DELETE FROM reservations WHERE trace_id = p_trace_id;
          RETURN 'tenant_balance';
        END IF;
        UPDATE api_keys SET reserved_micros = reserved_micros + p_amount
        WHERE id = p_api_key_id AND tenant_id = p_tenant_id
          AND (budget_micros IS NULL
            OR spent_micros + reserved_micros + p_amount <= budget_micros + p_margin);
        IF NOT FOUND THEN
          IF NOT EXISTS (
            SELECT 1 FROM api_keys WHERE id = p_api_key_id AND tenant_id = p_tenant_id
          ) THEN
            RAISE EXCEPTION 'Cannot reserve as API key % does not exist or is not of tenant %',
              p_api_key_id, p_tenant_id USING ERRCODE = 'foreign_key_violation';
          END IF;
          -- Undone under the locks this transaction holds, which is the same as rolling back,
          -- without an error in the server's log for every refusal.
          UPDATE tenants SET reserved_micros = reserved_micros - p_amount WHERE id = p_tenant_id;
          DELETE FROM reservations WHERE trace_id = p_trace_id;
          RETURN 'key_budget';
        END IF;
        RETURN 'ok';
      END
      $fn$;
    `,
    sqlite: "",
  },
  {
    version: 6,
    name: "a batch of settlements in one pass",
    // gateway_settle row by row updated the same tenant and key rows once per request: within one
    // transaction every update walks the chain of versions the earlier ones left, so a batch of n
    // cost n squared. This charges each tenant and key once per batch. Locks are taken in the
    // order every other function takes them: ledger rows, then tenants, then keys, each by id.
    postgres: settleManyFunction("CREATE", { columns: "", values: "" }),
    sqlite: "",
  },
  {
    version: 7,
    name: "model allowlists of tenants and keys",
    // A JSON array as text in both dialects, so both stores encode it one way; null allows every
    // model. The stores check the entries; the schema keeps out anything that is not a list.
    postgres: `
      ALTER TABLE tenants ADD COLUMN models text CHECK (${MODEL_LIST.postgres});
      ALTER TABLE api_keys ADD COLUMN models text CHECK (${MODEL_LIST.postgres});
    `,
    sqlite: `
      ALTER TABLE tenants ADD COLUMN models TEXT CHECK (${MODEL_LIST.sqlite});
      ALTER TABLE api_keys ADD COLUMN models TEXT CHECK (${MODEL_LIST.sqlite});
    `,
  },
  {
    version: 9,
    name: "idempotency keys",
    // One row per key of an API key: a hold while its first request runs (expires_at is then the
    // lease, renewed by the holder) and its recorded answer afterwards (expires_at the retention).
    // A row past expires_at counts as absent, so a lapsed hold frees the key at once and the
    // sweep only reclaims the space.
    postgres: `
      CREATE TABLE idempotency_keys (
        tenant_id text NOT NULL,
        api_key_id text NOT NULL,
        idempotency_key text NOT NULL,
        fingerprint text NOT NULL,
        state text NOT NULL CHECK (state IN ('running', 'done')),
        token text,
        answer bytea,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, api_key_id, idempotency_key)
      );
      CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
    `,
    sqlite: `
      CREATE TABLE idempotency_keys (
        tenant_id TEXT NOT NULL,
        api_key_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done')),
        token TEXT,
        answer BLOB,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, api_key_id, idempotency_key)
      ) STRICT;
      CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
    `,
  },
  {
    version: 10,
    name: "budgets with periods",
    // Spend is kept per budget period, by the period's start (ms since the epoch, 0 for a lifetime
    // budget): a new period is a new row, so a rollover resets exactly once however many instances
    // run, and nothing resets anything. Settling adds to the rows of the periods the tenant and the
    // key count in; the tenant's lifetime row always, so that a lifetime budget set later counts
    // what was spent before it (a key's lifetime spend is its spent_micros). A period set later
    // counts from then on. Old ledger rows fill each tenant's lifetime row.
    postgres: `
      ALTER TABLE tenants
        ADD COLUMN budget_micros bigint CHECK (${BUDGET}),
        ADD COLUMN budget_period text CHECK (${BUDGET_PERIOD});
      ALTER TABLE api_keys ADD COLUMN budget_period text CHECK (${BUDGET_PERIOD});
      CREATE TABLE budget_spend (
        scope text NOT NULL CHECK (scope IN ('tenant', 'key')),
        owner_id text NOT NULL,
        period text NOT NULL CHECK (period IN ('lifetime', 'daily', 'weekly', 'monthly')),
        period_start bigint NOT NULL,
        spent_micros bigint NOT NULL CHECK (${nonNegative("spent_micros")}),
        PRIMARY KEY (scope, owner_id, period, period_start)
      );
      INSERT INTO budget_spend (scope, owner_id, period, period_start, spent_micros)
      SELECT 'tenant', tenant_id, 'lifetime', 0, sum(cost_micros) FROM ledger GROUP BY tenant_id;

      CREATE FUNCTION gateway_period_spent(p_scope text, p_owner_id text, p_period text,
        p_daily bigint, p_weekly bigint, p_monthly bigint) RETURNS bigint
      LANGUAGE sql STABLE AS $fn$
        SELECT coalesce((SELECT spent_micros FROM budget_spend
          WHERE scope = p_scope AND owner_id = p_owner_id
            AND period = coalesce(p_period, 'lifetime')
            AND period_start = CASE p_period WHEN 'daily' THEN p_daily
              WHEN 'weekly' THEN p_weekly WHEN 'monthly' THEN p_monthly ELSE 0 END), 0)
      $fn$;

      -- As gateway_reserve of migration 5, with the tenant's budget and the key's budget checked
      -- in the periods given (their starts). Spend is read after the tenant's row is locked: a
      -- settlement of the tenant commits its spend and its released reservation together, before
      -- or after this reads both. The function it replaces goes, as its key check knew no periods.
      DROP FUNCTION gateway_reserve(text, text, text, bigint, bigint, timestamptz);
      CREATE FUNCTION gateway_reserve(p_trace_id text, p_tenant_id text, p_api_key_id text,
        p_amount bigint, p_margin bigint, p_expires_at timestamptz, p_daily bigint,
        p_weekly bigint, p_monthly bigint) RETURNS text
      LANGUAGE plpgsql AS $fn$
      DECLARE
        v_reserved bigint;
        v_budget bigint;
        v_period text;
        v_spent bigint;
      BEGIN
        IF EXISTS (SELECT 1 FROM ledger WHERE trace_id = p_trace_id) THEN
          RETURN 'duplicate';
        END IF;
        INSERT INTO reservations (trace_id, tenant_id, api_key_id, amount_micros, expires_at)
        VALUES (p_trace_id, p_tenant_id, p_api_key_id, p_amount, p_expires_at)
        ON CONFLICT (trace_id) DO NOTHING;
        IF NOT FOUND THEN
          RETURN 'duplicate';
        END IF;
        UPDATE tenants SET reserved_micros = reserved_micros + p_amount
        WHERE id = p_tenant_id AND balance_micros - reserved_micros - p_amount >= -p_margin
        RETURNING reserved_micros, budget_micros, budget_period
        INTO v_reserved, v_budget, v_period;
        IF NOT FOUND THEN
          IF NOT EXISTS (SELECT 1 FROM tenants WHERE id = p_tenant_id) THEN
            RAISE EXCEPTION 'Cannot reserve as tenant % does not exist', p_tenant_id
              USING ERRCODE = 'foreign_key_violation';
          END IF;
          DELETE FROM reservations WHERE trace_id = p_trace_id;
          RETURN 'tenant_balance';
        END IF;
        IF v_budget IS NOT NULL AND gateway_period_spent('tenant', p_tenant_id, v_period,
            p_daily, p_weekly, p_monthly) + v_reserved > v_budget + p_margin THEN
          UPDATE tenants SET reserved_micros = reserved_micros - p_amount WHERE id = p_tenant_id;
          DELETE FROM reservations WHERE trace_id = p_trace_id;
          RETURN 'tenant_budget';
        END IF;
        UPDATE api_keys SET reserved_micros = reserved_micros + p_amount
        WHERE id = p_api_key_id AND tenant_id = p_tenant_id
        RETURNING reserved_micros, budget_micros, budget_period, spent_micros
        INTO v_reserved, v_budget, v_period, v_spent;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'Cannot reserve as API key % does not exist or is not of tenant %',
            p_api_key_id, p_tenant_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF v_period IS NOT NULL THEN
          v_spent := gateway_period_spent('key', p_api_key_id, v_period, p_daily, p_weekly,
            p_monthly);
        END IF;
        IF v_budget IS NOT NULL AND v_spent + v_reserved > v_budget + p_margin THEN
          -- Undone under the locks this transaction holds, which is the same as rolling back,
          -- without an error in the server's log for every refusal.
          UPDATE api_keys SET reserved_micros = reserved_micros - p_amount
          WHERE id = p_api_key_id;
          UPDATE tenants SET reserved_micros = reserved_micros - p_amount WHERE id = p_tenant_id;
          DELETE FROM reservations WHERE trace_id = p_trace_id;
          RETURN 'key_budget';
        END IF;
        RETURN 'ok';
      END
      $fn$;

      -- gateway_settle_many, then the spend of what it settled added to the budget periods given,
      -- in the same transaction. The tenants and keys are locked by then; the spend rows are
      -- taken in one order, so concurrent batches queue instead of deadlocking.
      CREATE FUNCTION gateway_settle_budgets(p_batch jsonb, p_daily bigint, p_weekly bigint,
        p_monthly bigint) RETURNS text[]
      LANGUAGE plpgsql AS $fn$
      DECLARE
        v_outcomes text[];
      BEGIN
        v_outcomes := gateway_settle_many(p_batch);
        WITH settled AS (
          SELECT e->>'tenantId' AS tenant_id, e->>'apiKeyId' AS api_key_id,
            (e->>'costMicros')::bigint AS cost
          FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS batch(e, n)
          WHERE v_outcomes[n::integer] = 'settled'
        ), spend AS (
          SELECT 'tenant' AS scope, tenant_id AS owner_id, 'lifetime' AS period,
            0::bigint AS period_start, cost
          FROM settled
          UNION ALL
          SELECT 'tenant', t.id, t.budget_period, CASE t.budget_period WHEN 'daily' THEN p_daily
            WHEN 'weekly' THEN p_weekly ELSE p_monthly END, s.cost
          FROM settled s JOIN tenants t ON t.id = s.tenant_id
          WHERE t.budget_period IS NOT NULL
          UNION ALL
          SELECT 'key', k.id, k.budget_period, CASE k.budget_period WHEN 'daily' THEN p_daily
            WHEN 'weekly' THEN p_weekly ELSE p_monthly END, s.cost
          FROM settled s JOIN api_keys k ON k.id = s.api_key_id
          WHERE k.budget_period IS NOT NULL
        )
        INSERT INTO budget_spend AS b (scope, owner_id, period, period_start, spent_micros)
        SELECT scope, owner_id, period, period_start, sum(cost) FROM spend
        GROUP BY scope, owner_id, period, period_start
        ORDER BY scope, owner_id, period, period_start
        ON CONFLICT (scope, owner_id, period, period_start)
        DO UPDATE SET spent_micros = b.spent_micros + excluded.spent_micros;
        RETURN v_outcomes;
      END
      $fn$;
    `,
    sqlite: `
      ALTER TABLE tenants ADD COLUMN budget_micros INTEGER CHECK (${BUDGET});
      ALTER TABLE tenants ADD COLUMN budget_period TEXT CHECK (${BUDGET_PERIOD});
      ALTER TABLE api_keys ADD COLUMN budget_period TEXT CHECK (${BUDGET_PERIOD});
      CREATE TABLE budget_spend (
        scope TEXT NOT NULL CHECK (scope IN ('tenant', 'key')),
        owner_id TEXT NOT NULL,
        period TEXT NOT NULL CHECK (period IN ('lifetime', 'daily', 'weekly', 'monthly')),
        period_start INTEGER NOT NULL,
        spent_micros INTEGER NOT NULL CHECK (${nonNegative("spent_micros")}),
        PRIMARY KEY (scope, owner_id, period, period_start)
      ) STRICT;
      INSERT INTO budget_spend (scope, owner_id, period, period_start, spent_micros)
      SELECT 'tenant', tenant_id, 'lifetime', 0, sum(cost_micros) FROM ledger GROUP BY tenant_id;
    `,
  },
  {
    version: 11,
    name: "prompt cache tokens in the ledger",
    // Part of input_tokens, priced apart: read from a prompt cache, and written to one.
    // gateway_settle_many (which gateway_settle_budgets calls) is rebuilt to write them; rows
    // settled otherwise, as by an instance of the previous release, get no cache counts.
    postgres: `
      ALTER TABLE ledger
        ADD COLUMN cache_read_tokens bigint NOT NULL DEFAULT 0
          CHECK (${nonNegative("cache_read_tokens")}),
        ADD COLUMN cache_write_tokens bigint NOT NULL DEFAULT 0
          CHECK (${nonNegative("cache_write_tokens")});
      ${
      settleManyFunction("CREATE OR REPLACE", {
        columns: ", cache_read_tokens, cache_write_tokens",
        values: ", coalesce((e->>'cacheReadTokens')::bigint, 0), " +
          "coalesce((e->>'cacheWriteTokens')::bigint, 0)",
      })
    }
    `,
    sqlite: `
      ALTER TABLE ledger ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0
        CHECK (${nonNegative("cache_read_tokens")});
      ALTER TABLE ledger ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0
        CHECK (${nonNegative("cache_write_tokens")});
    `,
  },
  {
    version: 12,
    name: "stored responses",
    // Keyed by tenant first: an id is only ever looked up within its tenant, and a native
    // upstream's ids are its own, so two tenants' ids never collide. JSON as text in both
    // dialects; the retention sweep deletes by age.
    postgres: `
      CREATE TABLE responses (
        tenant_id text NOT NULL,
        id text NOT NULL,
        previous_response_id text,
        input_items text NOT NULL,
        response text NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, id)
      );
      CREATE INDEX responses_created_idx ON responses (created_at);
    `,
    sqlite: `
      CREATE TABLE responses (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        previous_response_id TEXT,
        input_items TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id)
      ) STRICT;
      CREATE INDEX responses_created_idx ON responses (created_at);
    `,
  },
];

/** The table that records which migrations a database has applied, in both dialects. */
export const SCHEMA_MIGRATIONS_DDL = {
  postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`,
  sqlite: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`,
} as const;

/** The migrations not yet in `applied`, oldest first; throws when the list is out of order. */
export function pendingMigrations(
  applied: ReadonlySet<number>,
  migrations: readonly Migration[] = MIGRATIONS,
): Migration[] {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version <= migrations[i - 1].version) {
      throw new Error(
        `Cannot migrate as versions must ascend: ${migrations[i].version} follows ${
          migrations[i - 1].version
        }`,
      );
    }
  }
  return migrations.filter((migration) => !applied.has(migration.version));
}
