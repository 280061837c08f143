/**
 * @module
 * The parts of Anthropic's Messages API (`anthropic-version: 2023-06-01`) the gateway speaks,
 * as its API reference describes them.
 */

/** A content block of a request message. */
export type AnthropicRequestBlock =
  | { type: "text"; text: string }
  | { type: "image"; source: AnthropicImageSource }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> }
  | {
    type: "tool_result";
    tool_use_id: string;
    content: string | Array<{ type: "text"; text: string }>;
  };

/** Where an image comes from: inline base64 data or a URL Anthropic fetches. */
export type AnthropicImageSource =
  | { type: "base64"; media_type: string; data: string }
  | { type: "url"; url: string };

/** One message of a request; roles alternate. */
export interface AnthropicMessage {
  role: "user" | "assistant";
  content: string | AnthropicRequestBlock[];
}

/** A tool the model may call. */
export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  strict?: boolean;
}

/** How the model must use the tools. */
export type AnthropicToolChoice =
  | { type: "auto"; disable_parallel_tool_use?: boolean }
  | { type: "any"; disable_parallel_tool_use?: boolean }
  | { type: "tool"; name: string; disable_parallel_tool_use?: boolean }
  | { type: "none" };

/** The body of `POST /v1/messages`. */
export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  metadata?: { user_id: string };
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  stream?: boolean;
}

/** A content block of a response; kinds the gateway does not translate are skipped. */
export type AnthropicResponseBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | { type: string; [key: string]: unknown };

/** Token counts of a response; the cache counts are part of the prompt. */
export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** A whole response of `POST /v1/messages`. */
export interface AnthropicResponse {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: AnthropicResponseBlock[];
  stop_reason: string | null;
  stop_sequence?: string | null;
  usage?: AnthropicUsage;
}

/** The error body of a failed call, and the `error` event of a broken stream. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

/** One event of a streamed response, by its `type`. */
export type AnthropicStreamEvent =
  | { type: "message_start"; message: Partial<AnthropicResponse> }
  | { type: "content_block_start"; index: number; content_block: AnthropicResponseBlock }
  | {
    type: "content_block_delta";
    index: number;
    delta: { type: string; text?: string; partial_json?: string; thinking?: string };
  }
  | { type: "content_block_stop"; index: number }
  | {
    type: "message_delta";
    delta: { stop_reason?: string | null; stop_sequence?: string | null };
    usage?: AnthropicUsage;
  }
  | { type: "message_stop" }
  | { type: "ping" }
  | AnthropicErrorBody;

/** One entry of `GET /v1/models`. */
export interface AnthropicModel {
  type?: "model";
  id: string;
  display_name?: string;
  /** RFC 3339 date and time. */
  created_at?: string;
}

/** A page of `GET /v1/models`. */
export interface AnthropicModelPage {
  data: AnthropicModel[];
  has_more?: boolean;
  last_id?: string | null;
}
