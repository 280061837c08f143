import {
  type CountTokensRequest,
  estimateTokens,
  type MessagesContentBlock,
  type MessagesRequest,
  type RequestEstimate,
} from "../core/mod.ts";

/**
 * The prompt's tokens as the gateway's own counter estimates them (about four characters a
 * token, a few tokens per message): the text of the system prompt, of every block (tool inputs
 * and results included) and of the tools' definitions. Images are not counted.
 */
export function estimateMessagesTokens(request: CountTokensRequest): number {
  let tokens = 3;
  if (typeof request.system === "string") tokens += estimateTokens(request.system);
  else if (request.system) {
    for (const block of request.system) tokens += estimateTokens(block.text);
  }
  for (const message of request.messages) {
    tokens += 4;
    if (typeof message.content === "string") tokens += estimateTokens(message.content);
    else for (const block of message.content) tokens += estimateTokens(blockText(block));
  }
  if (request.tools && request.tools.length > 0) {
    tokens += estimateTokens(JSON.stringify(request.tools));
  }
  return tokens;
}

/** A Messages request's worst case: its prompt, estimated, plus its `max_tokens`. */
export function messagesEstimate(request: MessagesRequest): RequestEstimate {
  return {
    model: request.model,
    inputTokens: estimateMessagesTokens(request),
    outputTokens: request.max_tokens,
    param: "max_tokens",
  };
}

function blockText(block: MessagesContentBlock): string {
  switch (block.type) {
    case "text":
      return String(block.text);
    case "thinking":
      return String(block.thinking);
    case "tool_use":
      return `${block.name} ${JSON.stringify(block.input)}`;
    case "tool_result": {
      const content = block.content;
      if (typeof content === "string") return content;
      return (content ?? []).map((part) => part.type === "text" ? part.text : "").join(" ");
    }
    default:
      return "";
  }
}
