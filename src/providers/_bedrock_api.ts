/**
 * @module
 * The parts of AWS Bedrock Runtime's Converse and ConverseStream APIs the gateway speaks, as
 * their API reference describes them.
 */

/** The image formats a Converse `image` block accepts. */
export type BedrockImageFormat = "png" | "jpeg" | "gif" | "webp";

/** A content block of a message; one member set, as the API's unions are. */
export type BedrockContentBlock =
  | { text: string }
  | { image: { format: BedrockImageFormat; source: { bytes: string } } }
  | { toolUse: { toolUseId: string; name: string; input: unknown } }
  | { toolResult: { toolUseId: string; content: Array<{ text: string }> } };

/** One message of a conversation; roles alternate. */
export interface BedrockMessage {
  role: "user" | "assistant";
  content: BedrockContentBlock[];
}

/** A tool the model may call, its parameters a JSON schema. */
export interface BedrockTool {
  toolSpec: {
    name: string;
    description?: string;
    inputSchema: { json: Record<string, unknown> };
  };
}

/** How the model must use the tools: any of them, at least one, or the one named. */
export type BedrockToolChoice =
  | { auto: Record<string, never> }
  | { any: Record<string, never> }
  | { tool: { name: string } };

/** The body of `POST /model/{modelId}/converse` and `.../converse-stream`. */
export interface BedrockRequest {
  messages: BedrockMessage[];
  system?: Array<{ text: string }>;
  inferenceConfig?: {
    maxTokens?: number;
    temperature?: number;
    topP?: number;
    stopSequences?: string[];
  };
  toolConfig?: { tools: BedrockTool[]; toolChoice?: BedrockToolChoice };
}

/** Token counts; the cache counts are part of the prompt but not of `inputTokens`. */
export interface BedrockUsage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

/** A content block of an answer; kinds the gateway does not translate are skipped. */
export type BedrockOutputBlock = {
  text?: unknown;
  toolUse?: { toolUseId?: unknown; name?: unknown; input?: unknown };
  [kind: string]: unknown;
};

/** The answer of `converse`. */
export interface BedrockResponse {
  output?: { message?: { role?: string; content?: BedrockOutputBlock[] } };
  stopReason?: string;
  usage?: BedrockUsage;
  metrics?: { latencyMs?: number };
}

/**
 * The payload of one ConverseStream event, by its `:event-type`; exceptions come as their own
 * messages, whose `:exception-type` names them and whose payload holds a `message`.
 */
export interface BedrockStreamEvents {
  messageStart: { role?: string };
  contentBlockStart: {
    contentBlockIndex?: number;
    start?: { toolUse?: { toolUseId?: unknown; name?: unknown } };
  };
  contentBlockDelta: {
    contentBlockIndex?: number;
    delta?: { text?: unknown; toolUse?: { input?: unknown } };
  };
  contentBlockStop: { contentBlockIndex?: number };
  messageStop: { stopReason?: string };
  metadata: { usage?: BedrockUsage; metrics?: { latencyMs?: number } };
}

/** One decoded ConverseStream event: its type and its JSON payload. */
export type BedrockStreamEvent =
  | {
    [Type in keyof BedrockStreamEvents]: { type: Type; body: BedrockStreamEvents[Type] };
  }[keyof BedrockStreamEvents]
  | { type: "unknown"; name: string };

/** One entry of the control plane's `GET /foundation-models`. */
export interface BedrockModelSummary {
  modelId?: unknown;
  providerName?: unknown;
}
