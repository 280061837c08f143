import type { ChatCompletionRequest, Usage } from "../core/mod.ts";
import {
  chatUsageOf,
  type Provider,
  type ProviderOperation,
  type ProviderResult,
  type UpstreamCall,
} from "../providers/mod.ts";
import { fromChatCompletion, responseShell } from "./from_chat.ts";
import { watchTerminalEvent } from "./native_stream.ts";
import type { InputItem, ResponsesRequest } from "./schema.ts";
import { ChatToResponsesStream } from "./stream.ts";
import { inputItemsOf, toChatRequest } from "./to_chat.ts";

/** A response as the client gets it: the gateway's translation, or a native upstream's own. */
export type ResponseBody = Readonly<Record<string, unknown>>;

/** What a Responses operation is built from. */
export interface ResponsesOperationOptions {
  request: ResponsesRequest;
  /** The body as the client sent it, for deployments that speak the Responses API. */
  body: Readonly<Record<string, unknown>>;
  /** The stored conversation before this request (`previous_response_id`), oldest first. */
  history: readonly InputItem[];
  /** The id a translated response gets. */
  responseId: string;
  /** Unix seconds, for `created_at`. */
  now: () => number;
  /**
   * Runs with a streamed response once it is finished, before its last event goes out; a whole
   * one is left to the caller, through {@linkcode ResponsesOperation.whole}.
   */
  onStreamFinish?: (response: ResponseBody) => Promise<void>;
}

/**
 * `POST /v1/responses` as one provider operation: on a deployment that speaks the Responses API
 * the client's body passes through (the stored conversation, if any, given as its input); on any
 * other it is translated to a chat completion and the answer back. Every provider serves it.
 */
export class ResponsesOperation implements ProviderOperation<ResponseBody> {
  readonly endpoint = "/v1/responses";
  readonly model: string;
  /** The chat completion request that asks the same, for the quota estimate and translation. */
  readonly chatRequest: ChatCompletionRequest;
  readonly #options: ResponsesOperationOptions;
  #whole: ResponseBody | undefined;

  constructor(options: ResponsesOperationOptions) {
    this.#options = options;
    this.model = options.request.model;
    this.chatRequest = toChatRequest(options.request, options.history);
  }

  /** The whole (not streamed) answer the client got, once the call has returned one. */
  get whole(): ResponseBody | undefined {
    return this.#whole;
  }

  supportedBy(): boolean {
    return true;
  }

  async invoke(provider: Provider, call: UpstreamCall): Promise<ProviderResult<ResponseBody>> {
    const result = provider.responses
      ? await this.#native(provider.responses.bind(provider), call)
      : await this.#translated(provider, call);
    if (result.kind === "json") this.#whole = result.body;
    return result;
  }

  usageOf(body: ResponseBody): Usage | undefined {
    return chatUsageOf(body.usage);
  }

  answerChars(body: ResponseBody): number {
    const output = Array.isArray(body.output) ? body.output : [];
    let chars = 0;
    for (const item of output as Array<Record<string, unknown>>) {
      if (typeof item.arguments === "string") chars += item.arguments.length;
      for (const part of Array.isArray(item.content) ? item.content : []) {
        if (typeof part?.text === "string") chars += part.text.length;
      }
    }
    return chars;
  }

  async #native(
    responses: NonNullable<Provider["responses"]>,
    call: UpstreamCall,
  ): Promise<ProviderResult<ResponseBody>> {
    const { body, history, request, onStreamFinish } = this.#options;
    // The gateway keeps the conversation, so the upstream gets it whole: the id it would look up
    // may be one that another deployment answered.
    const sent = history.length === 0 ? body : {
      ...withoutPreviousResponse(body),
      input: [...history, ...inputItemsOf(request.input)],
    };
    const result = await responses(sent, call);
    if (result.kind === "json" || !onStreamFinish) return result;
    return { ...result, body: result.body.pipeThrough(watchTerminalEvent(onStreamFinish)) };
  }

  async #translated(provider: Provider, call: UpstreamCall): Promise<ProviderResult<ResponseBody>> {
    const { request, responseId, now, onStreamFinish } = this.#options;
    const result = await provider.chatCompletion(this.chatRequest, call);
    const identity = { id: responseId, createdAt: now() };
    if (result.kind === "json") {
      return { kind: "json", body: fromChatCompletion(result.body, request, identity) };
    }
    const shell = responseShell(request, { ...identity, model: this.model });
    const translator = new ChatToResponsesStream({ shell, onFinish: onStreamFinish });
    return { kind: "stream", body: result.body.pipeThrough(translator), outcome: result.outcome };
  }
}

function withoutPreviousResponse(body: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { previous_response_id: _, ...rest } = body;
  return rest;
}
