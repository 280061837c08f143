import { randomId } from "../core/mod.ts";
import type { GeminiFunctionCallPart } from "./_gemini_api.ts";

/**
 * Joins a tool call's id and the thought signature Gemini gave its call. Gemini 3 refuses a
 * conversation whose function calls come back without their signatures, and OpenAI's tool call
 * has no field for one: the id, which every client sends back as it got it, carries it.
 */
const SIGNATURE_MARK = "~sig~";

/**
 * Makes the ids of one answer's tool calls. Gemini's calls have none (or, on some models, their
 * own): each gets one, the answer's `responseId` numbered, the same for the same answer and
 * unique within a conversation; the calls' names carry the answers back.
 */
export class ToolCallIds {
  readonly #base: string;
  #next = 0;

  constructor(responseId: string | undefined) {
    this.#base = responseId && /^[\w-]{1,64}$/.test(responseId)
      ? responseId
      : randomId("resp").slice("resp_".length);
  }

  /** The id of the next call, Gemini's own when it gave one, with the part's signature. */
  next(part: GeminiFunctionCallPart): string {
    const ordinal = this.#next++;
    const own = part.functionCall.id;
    const id = typeof own === "string" && own !== "" ? own : `call_${this.#base}_${ordinal}`;
    const signature = part.thoughtSignature;
    return typeof signature === "string" && signature !== ""
      ? `${id}${SIGNATURE_MARK}${signature}`
      : id;
  }
}

/** The thought signature a tool call's id carries, if any. */
export function thoughtSignatureOf(toolCallId: string): string | undefined {
  const at = toolCallId.indexOf(SIGNATURE_MARK);
  if (at === -1) return undefined;
  const signature = toolCallId.slice(at + SIGNATURE_MARK.length);
  return signature === "" ? undefined : signature;
}
