/** A customer of the gateway: the owner of API keys and of a balance. */
export interface Tenant {
  id: string;
  name: string;
  /** Balance in integer micro-dollars. */
  balanceMicros: number;
  createdAt: Date;
}

/** An API key as stored: never the secret itself, only its hash and a short prefix to show. */
export interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  /** The first characters of the secret, to tell keys apart in listings. */
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** One admin action or request, as written to the audit table. */
export interface AuditEntry {
  /** Who acted: `admin`, or the id of the API key. */
  actor: string;
  action: string;
  tenantId: string | null;
  /** The id of what was acted upon. */
  target: string | null;
  traceId: string | null;
  details: Record<string, unknown>;
}

/** An audit entry as read back. */
export interface AuditRecord extends AuditEntry {
  id: number;
  createdAt: Date;
}

/** Filter for {@linkcode Store.listAudit}; every field narrows the result. */
export interface AuditFilter {
  tenantId?: string;
  traceId?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

/**
 * The gateway's durable state. PostgreSQL and SQLite implement it and one contract suite tests
 * both; everything above it sees only this interface.
 */
export interface Store {
  /** Which backend this is, for readiness checks and logs. */
  readonly kind: "postgres" | "sqlite";
  /** Applies the embedded migrations that have not been applied yet. Safe to call concurrently. */
  migrate(): Promise<void>;
  /** Creates a tenant with a starting balance. */
  createTenant(input: { name: string; balanceMicros: number }): Promise<Tenant>;
  /** The tenant, or undefined when there is none with that id. */
  getTenant(id: string): Promise<Tenant | undefined>;
  /** How many tenants exist. */
  countTenants(): Promise<number>;
  /** Adds to a tenant's balance atomically; undefined when there is no such tenant. */
  addCredits(tenantId: string, amountMicros: number): Promise<Tenant | undefined>;
  /** Stores a new key by the hash of its secret. */
  createApiKey(
    input: { tenantId: string; name: string; keyHash: string; prefix: string },
  ): Promise<ApiKey>;
  /** The tenant's keys, revoked ones included, oldest first. */
  listApiKeys(tenantId: string): Promise<ApiKey[]>;
  /** The key whose secret hashes to `keyHash`, revoked or not; undefined when none. */
  findApiKeyByHash(keyHash: string): Promise<ApiKey | undefined>;
  /** Marks a key revoked and returns it; undefined when there is no such key. Revoking twice keeps the first time. */
  revokeApiKey(id: string): Promise<ApiKey | undefined>;
  /** Appends entries to the audit table. */
  writeAudit(entries: AuditEntry[]): Promise<void>;
  /** Audit records, newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
