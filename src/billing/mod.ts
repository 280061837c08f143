/**
 * @module
 * Money: prices per model, the quota reservation before a call, and billing through the queue
 * after it, in integer micro-dollars throughout.
 */
export { Billing, type BillingOptions, SETTLE_TASK } from "./billing.ts";
export { type Meter, type MeteredOutcome, Metering, type MeteringOptions } from "./metering.ts";
export { type Charge, type Funds, type HoldRequest, StoreFunds } from "./funds.ts";
export { PriceList } from "./pricing.ts";
export { MemoryFunds, type MemoryFundsOptions } from "./memory_funds.ts";
export { RedisFunds, type RedisFundsOptions } from "./redis_funds.ts";
export { Quota, type QuotaOptions } from "./quota.ts";
