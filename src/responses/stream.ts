import { SseSplitter } from "../providers/mod.ts";
import { newItemId, responsesUsageOf, statusOf } from "./from_chat.ts";
import type { FunctionCallItem, MessageItem, OutputItem, ResponseObject } from "./types.ts";

type MessagePart = MessageItem["content"][number];

/** Options of {@linkcode ChatToResponsesStream}. */
export interface ChatToResponsesOptions {
  /** The response the events describe, `in_progress` and with no output yet. */
  shell: ResponseObject;
  /**
   * Runs with the finished response before its final event goes out, so that a client who saw
   * `response.completed` finds the response stored.
   */
  onFinish?: (response: ResponseObject) => Promise<void>;
}

/** One item being streamed: its place in `output` and what closes it. */
interface OpenItem {
  item: OutputItem;
  outputIndex: number;
  open: boolean;
}

interface ChunkDelta {
  content?: unknown;
  refusal?: unknown;
  tool_calls?: unknown;
}

interface ToolCallDelta {
  index?: unknown;
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

const encoder = new TextEncoder();

/**
 * Turns an OpenAI chat completion chunk stream (SSE bytes) into the Responses API's typed events
 * (SSE bytes), each with its `sequence_number`, as the chunks arrive: `response.created` and
 * `response.in_progress` first; an item's `added` events, its deltas and its `done` events; one
 * terminal event (`response.completed`, `response.incomplete` when the length or a filter cut it
 * short, `response.failed` when the upstream broke off) last. Text (and a refusal, as a part of
 * its own) goes out in a `message` item, each tool call in a `function_call` item.
 */
export class ChatToResponsesStream extends TransformStream<Uint8Array, Uint8Array> {
  constructor(options: ChatToResponsesOptions) {
    const translator = new ChunkTranslator(options.shell);
    const splitter = new SseSplitter();
    const decoder = new TextDecoder();
    const translate = (text: string, controller: TransformStreamDefaultController<Uint8Array>) => {
      let out = "";
      for (const event of splitter.push(text)) out += translator.push(event.data);
      if (out) controller.enqueue(encoder.encode(out));
    };
    super({
      start: (controller) => controller.enqueue(encoder.encode(translator.begin())),
      transform: (chunk, controller) =>
        translate(decoder.decode(chunk, { stream: true }), controller),
      flush: async (controller) => {
        translate(decoder.decode(), controller);
        const { closing, response } = translator.finish();
        if (closing) controller.enqueue(encoder.encode(closing));
        await options.onFinish?.(response);
        controller.enqueue(encoder.encode(translator.terminal(response)));
      },
    });
  }
}

/** The state of one translation: the response so far and its open items. */
class ChunkTranslator {
  readonly #response: ResponseObject;
  readonly #items: OpenItem[] = [];
  /** Open `function_call` items by the chat tool call's `index`. */
  readonly #calls = new Map<number, OpenItem>();
  #message: OpenItem | undefined;
  #sequence = 0;
  #finishReason: string | undefined;
  #usage: unknown;
  #error: { code: string; message: string } | undefined;

  constructor(shell: ResponseObject) {
    this.#response = shell;
  }

  begin(): string {
    return this.#event("response.created", { response: this.#snapshot() }) +
      this.#event("response.in_progress", { response: this.#snapshot() });
  }

  /** The events for one chat SSE event's data. */
  push(data: string | undefined): string {
    if (data === undefined || !data.startsWith("{") || this.#error) return "";
    let chunk: Record<string, unknown>;
    try {
      chunk = JSON.parse(data);
    } catch {
      return "";
    }
    if (typeof chunk.error === "object" && chunk.error !== null) {
      const { code, message } = chunk.error as { code?: unknown; message?: unknown };
      this.#error = {
        code: typeof code === "string" ? code : "upstream_error",
        message: typeof message === "string" ? message : "The upstream broke off",
      };
      return "";
    }
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (typeof choice !== "object" || choice === null) return "";
    const { delta, finish_reason } = choice as { delta?: ChunkDelta; finish_reason?: unknown };
    if (typeof finish_reason === "string") this.#finishReason = finish_reason;
    let out = "";
    if (typeof delta?.content === "string" && delta.content !== "") {
      out += this.#append("output_text", delta.content);
    }
    if (typeof delta?.refusal === "string" && delta.refusal !== "") {
      out += this.#append("refusal", delta.refusal);
    }
    if (Array.isArray(delta?.tool_calls)) {
      for (const call of delta.tool_calls) out += this.#toolCall(call as ToolCallDelta);
    }
    return out;
  }

  /** The `done` events of every item still open, and the finished response. */
  finish(): { closing: string; response: ResponseObject } {
    const status = this.#error
      ? { status: "failed" as const, incomplete_details: null }
      : statusOf(this.#finishReason);
    const itemStatus = status.status === "completed" ? "completed" : "incomplete";
    let closing = "";
    for (const open of this.#items) if (open.open) closing += this.#close(open, itemStatus);
    const response: ResponseObject = {
      ...this.#response,
      ...status,
      error: this.#error ?? null,
      output: this.#items.map((open) => open.item),
      usage: responsesUsageOf(this.#usage),
    };
    return { closing, response };
  }

  /** The one event that ends the stream. */
  terminal(response: ResponseObject): string {
    const type = response.status === "completed"
      ? "response.completed"
      : response.status === "incomplete"
      ? "response.incomplete"
      : "response.failed";
    return this.#event(type, { response });
  }

  /** Adds `text` to the open message's last part, opening the message or a part as needed. */
  #append(kind: MessagePart["type"], text: string): string {
    let out = "";
    if (!this.#message) {
      const item: MessageItem = {
        type: "message",
        id: newItemId("message"),
        status: "in_progress",
        role: "assistant",
        content: [],
      };
      this.#message = this.#add(item);
      out += this.#event("response.output_item.added", {
        output_index: this.#message.outputIndex,
        item: { ...item, content: [] },
      });
    }
    const { item, outputIndex } = this.#message;
    const message = item as MessageItem;
    let contentIndex = message.content.length - 1;
    if (message.content[contentIndex]?.type !== kind) {
      if (contentIndex >= 0) out += this.#closePart(message, outputIndex, contentIndex);
      const part: MessagePart = kind === "output_text"
        ? { type: "output_text", text: "", annotations: [] }
        : { type: "refusal", refusal: "" };
      message.content.push(part);
      contentIndex++;
      out += this.#event("response.content_part.added", {
        item_id: message.id,
        output_index: outputIndex,
        content_index: contentIndex,
        part: { ...part },
      });
    }
    const part = message.content[contentIndex];
    const where = { item_id: message.id, output_index: outputIndex, content_index: contentIndex };
    if (part.type === "output_text") {
      part.text += text;
      return out +
        this.#event("response.output_text.delta", { ...where, delta: text, logprobs: [] });
    }
    part.refusal += text;
    return out + this.#event("response.refusal.delta", { ...where, delta: text });
  }

  #closePart(message: MessageItem, outputIndex: number, contentIndex: number): string {
    const part = message.content[contentIndex];
    const where = { item_id: message.id, output_index: outputIndex, content_index: contentIndex };
    const done = part.type === "output_text"
      ? this.#event("response.output_text.done", { ...where, text: part.text, logprobs: [] })
      : this.#event("response.refusal.done", { ...where, refusal: part.refusal });
    return done + this.#event("response.content_part.done", { ...where, part: { ...part } });
  }

  #toolCall(delta: ToolCallDelta): string {
    const index = typeof delta.index === "number" ? delta.index : 0;
    let out = "";
    let open = this.#calls.get(index);
    if (!open) {
      // Text that follows a tool call starts a message item of its own.
      if (this.#message) out += this.#close(this.#message, "completed");
      this.#message = undefined;
      const item: FunctionCallItem = {
        type: "function_call",
        id: newItemId("function_call"),
        call_id: typeof delta.id === "string" ? delta.id : newItemId("function_call"),
        name: typeof delta.function?.name === "string" ? delta.function.name : "",
        arguments: "",
        status: "in_progress",
      };
      open = this.#add(item);
      this.#calls.set(index, open);
      out += this.#event("response.output_item.added", {
        output_index: open.outputIndex,
        item: { ...item },
      });
    }
    const args = delta.function?.arguments;
    if (typeof args !== "string" || args === "") return out;
    const item = open.item as FunctionCallItem;
    item.arguments += args;
    return out + this.#event("response.function_call_arguments.delta", {
      item_id: item.id,
      output_index: open.outputIndex,
      delta: args,
    });
  }

  #add(item: OutputItem): OpenItem {
    const open = { item, outputIndex: this.#items.length, open: true };
    this.#items.push(open);
    return open;
  }

  #close(open: OpenItem, status: "completed" | "incomplete"): string {
    open.open = false;
    const { item, outputIndex } = open;
    item.status = status;
    let out = "";
    if (item.type === "message") {
      if (item.content.length > 0) {
        out += this.#closePart(item, outputIndex, item.content.length - 1);
      }
    } else {
      out += this.#event("response.function_call_arguments.done", {
        item_id: item.id,
        output_index: outputIndex,
        arguments: item.arguments,
      });
    }
    return out + this.#event("response.output_item.done", {
      output_index: outputIndex,
      item: structuredClone(item),
    });
  }

  #snapshot(): ResponseObject {
    return { ...this.#response, output: [] };
  }

  #event(type: string, fields: Record<string, unknown>): string {
    const data = JSON.stringify({ type, sequence_number: this.#sequence++, ...fields });
    return `event: ${type}\ndata: ${data}\n\n`;
  }
}
