/** A piece of an assistant message's output: its text. */
export interface OutputText {
  type: "output_text";
  text: string;
  annotations: unknown[];
}

/** A piece of an assistant message's output: the model's refusal to answer. */
export interface OutputRefusal {
  type: "refusal";
  refusal: string;
}

/** An output item holding the assistant's text. */
export interface MessageItem {
  type: "message";
  id: string;
  status: ItemStatus;
  role: "assistant";
  content: Array<OutputText | OutputRefusal>;
}

/** An output item asking the client to run one of its functions. */
export interface FunctionCallItem {
  type: "function_call";
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: ItemStatus;
}

/** The status of an output item. */
export type ItemStatus = "in_progress" | "completed" | "incomplete";

/** One item of a response's `output` as the translation produces them. */
export type OutputItem = MessageItem | FunctionCallItem;

/** The Responses API's token usage. */
export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Where a response stands. */
export type ResponseStatus = "in_progress" | "completed" | "incomplete" | "failed";

/**
 * The Response object (`object: "response"`) as the gateway answers it for a translated
 * deployment. A native deployment's answer passes through as its upstream wrote it.
 */
export type ResponseObject = {
  id: string;
  object: "response";
  created_at: number;
  status: ResponseStatus;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" | "content_filter" } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: string | null };
  store: boolean;
  temperature: number | null;
  text: { format: Record<string, unknown> };
  tool_choice: unknown;
  tools: unknown[];
  top_p: number | null;
  truncation: "disabled";
  usage: ResponsesUsage | null;
  user: string | null;
  metadata: Record<string, string>;
};

/** One item of a conversation as stored and listed by `input_items`: any Responses item. */
export type ConversationItem = Readonly<Record<string, unknown>> & { type: string };
