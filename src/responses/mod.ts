/**
 * @module
 * OpenAI's Responses API at the gateway's edge: the request schema, its translation to a chat
 * completion and of the answer back (whole and streamed), and the provider operation that passes
 * it through to deployments that speak it natively.
 */
export { fromChatCompletion, newResponseId, responseShell, responsesUsageOf } from "./from_chat.ts";
export {
  type ResponseBody,
  ResponsesOperation,
  type ResponsesOperationOptions,
} from "./operation.ts";
export {
  type ContentPart,
  type InputItem,
  type ResponsesRequest,
  responsesRequestSchema,
} from "./schema.ts";
export { type ChatToResponsesOptions, ChatToResponsesStream } from "./stream.ts";
export { inputItemsOf, toChatRequest } from "./to_chat.ts";
export type * from "./types.ts";
export {
  type InputItemPage,
  type InputItemsQuery,
  ResponsesService,
  type ResponsesServiceOptions,
  type ResponseStore,
} from "./service.ts";
export { ResponsesRetention, type ResponsesRetentionOptions } from "./retention.ts";
