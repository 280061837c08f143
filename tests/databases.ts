/**
 * @module
 * Throwaway PostgreSQL databases for end-to-end tests, made and dropped through `psql` as the
 * `postgres` superuser. PostgreSQL is required: these fail, never skip, when it is down.
 */

const POSTGRES_ADMIN = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres"];

/** Runs SQL as the `postgres` superuser; throws with psql's message when it fails. */
export async function psql(sql: string): Promise<void> {
  const output = await new Deno.Command("psql", {
    args: [...POSTGRES_ADMIN, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (output.code !== 0) {
    throw new Error(
      `psql -c ${JSON.stringify(sql)} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/** A fresh database of its own, dropped on dispose. */
export async function createDatabase(): Promise<{ url: string } & AsyncDisposable> {
  const name = `gateway_e2e_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await psql(`CREATE DATABASE ${name}`);
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    [Symbol.asyncDispose]: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
