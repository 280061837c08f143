import { AwsClient } from "aws4fetch";
import type { ChatCompletionRequest, ModelInfo } from "../core/mod.ts";
import { UpstreamError } from "./errors.ts";
import type { UpstreamFetch } from "./openai.ts";
import type { Provider, ProviderResult, UpstreamCall } from "./types.ts";
import {
  parseJsonObject,
  readText,
  sendUpstream,
  type UpstreamErrorDetail,
} from "./_upstream_http.ts";
import type { BedrockModelSummary, BedrockResponse } from "./_bedrock_api.ts";
import { toBedrockRequest } from "./_bedrock_request.ts";
import { classifyException, fromBedrockResponse, modelInfo } from "./_bedrock_response.ts";
import { relayBedrockStream } from "./_bedrock_stream.ts";

/** AWS credentials, as the usual `AWS_*` environment variables give them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Set for temporary credentials (an assumed role, SSO). */
  sessionToken?: string;
}

/** Settings of a {@linkcode BedrockProvider}. */
export interface BedrockProviderOptions {
  /** The AWS region of the deployment, e.g. `us-east-1`. */
  region: string;
  credentials: AwsCredentials;
  /**
   * The runtime endpoint, for a VPC endpoint or a test server; by default
   * `https://bedrock-runtime.{region}.amazonaws.com`.
   */
  baseUrl?: string;
  /** The HTTP client; defaults to the global `fetch`. */
  fetch?: UpstreamFetch;
}

/** Bedrock signs its runtime and control plane calls as this SigV4 service. */
const SIGNING_SERVICE = "bedrock";

/**
 * AWS Bedrock Runtime's Converse and ConverseStream APIs behind OpenAI's chat completions: each
 * call signed with SigV4, requests, answers, event streams and errors translated both ways. What
 * Converse cannot honour is refused with the client's 400, before any call.
 */
export class BedrockProvider implements Provider {
  readonly name = "bedrock";
  readonly #runtimeUrl: string;
  readonly #controlUrl: string;
  readonly #signer: AwsClient;
  readonly #secrets: string[];
  readonly #fetch: UpstreamFetch;

  constructor(options: BedrockProviderOptions) {
    const { region, credentials } = options;
    const base = options.baseUrl?.replace(/\/+$/, "");
    this.#runtimeUrl = base ?? `https://bedrock-runtime.${region}.amazonaws.com`;
    this.#controlUrl = base ?? `https://bedrock.${region}.amazonaws.com`;
    this.#signer = new AwsClient({ ...credentials, region, service: SIGNING_SERVICE });
    this.#secrets = [credentials.secretAccessKey, credentials.sessionToken ?? ""].filter(Boolean);
    this.#fetch = options.fetch ?? fetch;
  }

  /** Lists the region's foundation models that answer in text (the control plane's list). */
  async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    const url = `${this.#controlUrl}/foundation-models?byOutputModality=TEXT`;
    const response = await this.#send("GET", url, undefined, { signal, traceId: "" });
    const body = parseJsonObject<{ modelSummaries?: BedrockModelSummary[] }>(
      await readText(response, signal),
    );
    if (!Array.isArray(body.modelSummaries)) {
      throw new UpstreamError("invalid_response", "The upstream's model list has no summaries");
    }
    return body.modelSummaries.map(modelInfo);
  }

  /** Calls Converse, or ConverseStream for a stream, and answers in OpenAI's format. */
  async chatCompletion(
    request: ChatCompletionRequest,
    call: UpstreamCall,
  ): Promise<ProviderResult> {
    const body = toBedrockRequest(request);
    const operation = request.stream ? "converse-stream" : "converse";
    const url = `${this.#runtimeUrl}/model/${encodeURIComponent(call.upstreamModel)}/${operation}`;
    const response = await this.#send("POST", url, body, call);
    // Converse's answer has no timestamp: the completion is dated when it arrives.
    const created = Math.floor(Date.now() / 1000);
    if (!request.stream) {
      const answer = parseJsonObject<BedrockResponse>(await readText(response, call.signal));
      return { kind: "json", body: fromBedrockResponse(answer, { model: request.model, created }) };
    }
    const type = response.headers.get("content-type") ?? "";
    if (!response.body || !type.includes("application/vnd.amazon.eventstream")) {
      await response.body?.cancel();
      throw new UpstreamError(
        "invalid_response",
        "The upstream did not answer with an event stream",
      );
    }
    return {
      kind: "stream",
      ...await relayBedrockStream(response.body, {
        model: request.model,
        created,
        clientWantsUsage: request.stream_options?.include_usage === true,
        signal: call.signal,
        secrets: this.#secrets,
      }),
    };
  }

  async #send(
    method: string,
    url: string,
    body: unknown,
    call: Pick<UpstreamCall, "signal" | "traceId" | "traceparent">,
  ): Promise<Response> {
    return await sendUpstream({
      // Signed last, over the very headers and body that go out.
      fetch: async (input, init) => {
        const signed = await this.#signer.sign(String(input), {
          method: init?.method,
          headers: init?.headers,
          body: init?.body,
        });
        return await this.#fetch(signed.url, {
          method: signed.method,
          headers: signed.headers,
          body: init?.body,
          signal: init?.signal,
        });
      },
      url,
      method,
      headers: { accept: "application/json, application/vnd.amazon.eventstream" },
      body,
      call,
      apiKey: this.#secrets[0],
      explainError: explainBedrockError,
    });
  }
}

/**
 * What a Bedrock 4xx tells: its message at `message` (or `Message`), and the class of the
 * exception `x-amzn-errortype` names where its status would mislead (a model's own failure, 424,
 * is no fault of the client; a quota, 400, is a rate limit).
 */
function explainBedrockError(body: unknown, response: Response): UpstreamErrorDetail | undefined {
  const name = response.headers.get("x-amzn-errortype");
  const errorClass = name ? classifyException(name) : undefined;
  const text = typeof body === "object" && body !== null
    ? Reflect.get(body, "message") ?? Reflect.get(body, "Message")
    : undefined;
  const message = typeof text === "string" ? text : undefined;
  if (message === undefined && errorClass === undefined) return undefined;
  return { message: message ?? `The upstream failed with ${name}`, errorClass };
}
