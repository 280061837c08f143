/**
 * @module
 * The small core every concern shares: the gateway's error type, money helpers, ids, group commit,
 * budget periods, model allowlists and the domain types of the OpenAI and Anthropic surfaces. It
 * imports nothing local.
 */
export * from "./anthropic.ts";
export * from "./budget_calendar.ts";
export * from "./errors.ts";
export * from "./group_commit.ts";
export * from "./money.ts";
export * from "./ids.ts";
export * from "./model_allowlist.ts";
export * from "./openai.ts";
export * from "./tokens.ts";
