/**
 * @module
 * The tenants and keys the benchmark measures with, made through the gateway's admin API: plain,
 * with rate limits, or with rate limits and issue 12's tenant controls (model allowlists and
 * period budgets), so that the controls' cost shows as the one difference between two keys.
 */

/**
 * What a benchmark tenant and its key carry besides the tenant's balance: nothing (the
 * foundation's admin API takes no more), rate limits, or rate limits and tenant controls.
 */
export type KeyProfile = "plain" | "limited" | "controlled";

// Far above what the benchmark sends, so that the rate-limit script runs on every request, as the
// money path does in production, without ever refusing one.
const LIMITS = { rpm_limit: 1_000_000_000, tpm_limit: 1_000_000_000 };

// Lists that allow the benchmark's `gpt-4o-mini` only after a real lookup: on the tenant, an exact
// name that misses and prefixes scanned up to the last; on the key, one name of several. Budgets
// far above what a run spends, so none refuses, with a period each, so the period's spend is
// what is reserved against.
const CONTROLS = {
  tenant: {
    ...LIMITS,
    models: ["text-embedding-3-small", "claude-*", "gemini-*", "gpt-4o*"],
    budget_usd: 100_000,
    budget_period: "monthly",
  },
  key: {
    ...LIMITS,
    models: ["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "text-embedding-3-small"],
    budget_usd: 10_000,
    budget_period: "daily",
  },
};

// A model each list refuses while the other allows it, so that both are seen to be checked.
const REFUSED = [
  { model: "gpt-4.1-mini", by: "This organization" },
  { model: "gemini-2.0-flash", by: "This API key" },
];

function profileFields(profile: KeyProfile): { tenant: object; key: object } {
  switch (profile) {
    case "plain":
      return { tenant: {}, key: {} };
    case "limited":
      return { tenant: LIMITS, key: LIMITS };
    case "controlled":
      return CONTROLS;
  }
}

/** Creates a tenant with $1000 and a key of `profile` on the gateway; returns the key. */
export async function createApiKey(
  gatewayUrl: string,
  { adminToken, profile }: { adminToken: string; profile: KeyProfile },
): Promise<string> {
  const headers = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${gatewayUrl}/internal${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const json = await response.json();
    if (response.status !== 201) {
      throw new Error(`Cannot create ${path} (${response.status}): ${JSON.stringify(json)}`);
    }
    return json;
  };
  const fields = profileFields(profile);
  const tenant = await post("/tenants", { name: "bench", balance_usd: 1000, ...fields.tenant });
  const key = await post(`/tenants/${tenant.id}/keys`, { name: "bench", ...fields.key });
  return key.key;
}

/**
 * Checks that a `controlled` key's allowlists are in force on the chat route at `chatUrl`: each
 * list refuses a model the other allows, with 403 `model_not_allowed`. Otherwise the controls
 * target would measure a key without controls.
 */
export async function assertControlsHold(chatUrl: string, key: string): Promise<void> {
  for (const { model, by } of REFUSED) {
    const response = await fetch(chatUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "Hello" }] }),
      signal: AbortSignal.timeout(5000),
    });
    const body = await response.text();
    const error = response.status === 403 ? JSON.parse(body).error : undefined;
    if (error?.code !== "model_not_allowed" || !error.message.startsWith(by)) {
      throw new Error(
        `Cannot measure the tenant controls as '${model}' got ${response.status} ` +
          `(expected 403 model_not_allowed from ${by.toLowerCase()}'s list): ${body}`,
      );
    }
  }
}
