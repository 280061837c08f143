/**
 * @module
 * Tenants, API keys and balances as the internal API manages them.
 */
export { type BudgetStatus, type CreatedApiKey, TenantService } from "./service.ts";
export { bootstrapFirstKey, FIRST_KEY_FILE } from "./bootstrap.ts";
