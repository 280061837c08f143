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
const SIGNATURE_NEEDS_SECRET = "api_keys_signature_needs_secret";
// Amounts that may not go below zero: reservations, spend, costs and token counts.
const nonNegative = (column: string) => `${column} BETWEEN 0 AND 9007199254740991`;

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
        tenant_id text NOT NULL REFERENCES tenants (id),
        api_key_id text NOT NULL REFERENCES api_keys (id),
        amount_micros bigint NOT NULL CHECK (amount_micros BETWEEN 1 AND 9007199254740991),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX reservations_expires_idx ON reservations (expires_at);
      CREATE TABLE ledger (
        id bigserial PRIMARY KEY,
        trace_id text NOT NULL UNIQUE,
        tenant_id text NOT NULL REFERENCES tenants (id),
        api_key_id text NOT NULL REFERENCES api_keys (id),
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
