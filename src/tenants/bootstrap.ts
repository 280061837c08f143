import { join } from "node:path";
import type { TenantService } from "./service.ts";

/** Where the first API key of an embedded installation is written. */
export const FIRST_KEY_FILE = "first-api-key";

const STARTING_BALANCE_MICROS = 10_000_000;

/**
 * Gives a brand-new embedded installation a `default` tenant and one key, so the very first
 * request works with no set-up. The secret goes to a file readable by its owner only, never to a
 * log line. Returns the file's path when one exists; does nothing once any tenant exists.
 */
export async function bootstrapFirstKey(
  options: { tenants: TenantService; dataDir: string },
): Promise<string | undefined> {
  const path = join(options.dataDir, FIRST_KEY_FILE);
  if (await exists(path)) return path;
  if (await options.tenants.hasTenants()) return undefined;
  const tenant = await options.tenants.createTenant(
    { name: "default", balanceMicros: STARTING_BALANCE_MICROS },
    "bootstrap",
  );
  const { secret } = await options.tenants.createApiKey(tenant.id, { name: "first" }, "bootstrap");
  await Deno.writeTextFile(path, `${secret}\n`, { mode: 0o600, createNew: true });
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
