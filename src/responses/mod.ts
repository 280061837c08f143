/**
 * @module
 * OpenAI's Responses API at the gateway's edge: the request schema, the service that runs a
 * request over the model pipeline (translated to chat completions, or passed through to a
 * deployment that speaks it) and keeps the conversation, and the retention of what it keeps.
 */
export { type ResponsesRequest, responsesRequestSchema } from "./schema.ts";
export {
  type InputItemPage,
  type InputItemsQuery,
  ResponsesService,
  type ResponsesServiceOptions,
  type ResponseStore,
} from "./service.ts";
export { ResponsesRetention, type ResponsesRetentionOptions } from "./retention.ts";
export type { ResponseBody } from "./operation.ts";
export type * from "./types.ts";
