/**
 * @module
 * Anthropic's Messages API at the gateway's edge: the Messages operation (native on providers
 * that speak it, translated into chat completions and back elsewhere, streams included) and the
 * gateway's own token estimate for count_tokens.
 */
export { chatToMessage } from "./from_chat.ts";
export {
  COUNT_TOKENS_ENDPOINT,
  countTokensOperation,
  MESSAGES_ENDPOINT,
  messagesOperation,
} from "./operation.ts";
export { ChatToMessagesEvents, chatToMessagesStream } from "./stream.ts";
export { messagesToChat } from "./to_chat.ts";
export { estimateMessagesTokens, messagesEstimate } from "./tokens.ts";
