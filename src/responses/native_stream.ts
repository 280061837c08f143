import { SseSplitter } from "../providers/mod.ts";
import type { ResponseBody } from "./operation.ts";

const TERMINAL_EVENTS = ["response.completed", "response.incomplete", "response.failed"];

const encoder = new TextEncoder();

/**
 * Passes a native Responses stream through untouched, except that its terminal event waits
 * until `onFinish` has run with the response it carries: a client who saw `response.completed`
 * then finds the response stored.
 */
export function watchTerminalEvent(
  onFinish: (response: ResponseBody) => Promise<void>,
): TransformStream<Uint8Array, Uint8Array> {
  const splitter = new SseSplitter();
  const decoder = new TextDecoder();
  const relay = async (text: string, controller: TransformStreamDefaultController<Uint8Array>) => {
    let out = "";
    for (const event of splitter.push(text)) {
      const response = terminalResponse(event.data);
      if (response) {
        if (out) controller.enqueue(encoder.encode(out));
        out = "";
        await onFinish(response);
      }
      out += event.raw;
    }
    if (out) controller.enqueue(encoder.encode(out));
  };
  return new TransformStream({
    transform: (chunk, controller) => relay(decoder.decode(chunk, { stream: true }), controller),
    flush: async (controller) => {
      await relay(decoder.decode(), controller);
      if (splitter.pending) controller.enqueue(encoder.encode(splitter.pending));
    },
  });
}

function terminalResponse(data: string | undefined): ResponseBody | undefined {
  // Only the last event or two can be terminal: the others are told apart without parsing.
  if (data === undefined || !TERMINAL_EVENTS.some((type) => data.includes(type))) return undefined;
  try {
    const event = JSON.parse(data);
    const response = event?.response;
    if (!TERMINAL_EVENTS.includes(event?.type)) return undefined;
    return typeof response === "object" && response !== null ? response : undefined;
  } catch {
    return undefined;
  }
}
