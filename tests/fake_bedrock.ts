/**
 * @module
 * A fake AWS Bedrock Runtime for tests, on 127.0.0.1. It checks every request's SigV4 signature
 * on its own, with the AWS SDK's signer (`@smithy/signature-v4`, not the `aws4fetch` the gateway
 * signs with): the signature of the received method, path, query, signed headers and body is
 * computed again from the fake's credentials, and a mismatch is answered 403
 * `InvalidSignatureException` as AWS does. Converse answers are JSON, ConverseStream answers real
 * `application/vnd.amazon.eventstream` binary framed by the AWS SDK's event-stream codec.
 */
import { Sha256 } from "@aws-crypto/sha256-js";
import { EventStreamCodec } from "@smithy/core/event-streams";
import { SignatureV4 } from "@smithy/signature-v4";
import type { MessageHeaders } from "@smithy/types";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";

/** One message of a ConverseStream answer: an event or an exception, with its JSON payload. */
export type StreamMessage =
  | { event: string; payload: Record<string, unknown> }
  | { exception: string; payload: Record<string, unknown> };

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** Frames messages as an event stream: prelude, headers, payload and CRCs each. */
export function encodeEventStream(messages: StreamMessage[]): Uint8Array<ArrayBuffer> {
  const frames = messages.map((message) => {
    const string = (value: string) => ({ type: "string" as const, value });
    const kind: MessageHeaders = "event" in message
      ? { ":message-type": string("event"), ":event-type": string(message.event) }
      : { ":message-type": string("exception"), ":exception-type": string(message.exception) };
    const headers: MessageHeaders = { ...kind, ":content-type": string("application/json") };
    return codec.encode({ headers, body: fromUtf8(JSON.stringify(message.payload)) });
  });
  const out = new Uint8Array(frames.reduce((size, frame) => size + frame.length, 0));
  let offset = 0;
  for (const frame of frames) out.set(frame, offset), offset += frame.length;
  return out;
}

/** A ConverseStream answer of these messages, sent in pieces of `pieceLength` bytes. */
export function eventStreamResponse(messages: StreamMessage[], pieceLength?: number): Response {
  const bytes = encodeEventStream(messages);
  const size = pieceLength ?? bytes.length;
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
  return new Response(body, { headers: { "content-type": "application/vnd.amazon.eventstream" } });
}

/** A failed call as Bedrock answers it: the exception named in `x-amzn-errortype`. */
export function bedrockError(status: number, exception: string, message: string): Response {
  return Response.json({ message }, {
    status,
    headers: {
      "x-amzn-errortype": `${exception}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    },
  });
}

/** A request the fake received, its signature checked. */
export interface BedrockCall {
  /** `converse`, `converse-stream` or `foundation-models`. */
  operation: string;
  /** The model id of the path, decoded. */
  modelId: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
}

/** The credentials and region the fake signs with, as the gateway's environment gives them. */
export interface FakeBedrockCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
}

/** Options of {@linkcode startFakeBedrock}. */
export interface FakeBedrockOptions extends FakeBedrockCredentials {
  /** Answers a correctly signed Converse or ConverseStream call. */
  answer(call: BedrockCall): Response | Promise<Response>;
}

/** A running fake Bedrock. */
export interface FakeBedrock {
  url: string;
  /** The correctly signed calls, in order. */
  received: BedrockCall[];
  /** Calls refused for their signature. */
  refused: number;
  [Symbol.asyncDispose](): Promise<void>;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** Starts a fake Bedrock Runtime; its URL is what a deployment's `base_url` names. */
export function startFakeBedrock(options: FakeBedrockOptions): FakeBedrock {
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      sessionToken: options.sessionToken,
    },
    region: options.region,
    service: "bedrock",
    sha256: Sha256,
    // The gateway signs no payload header, as AWS allows outside S3.
    applyChecksum: false,
  });
  const state: FakeBedrock = {
    url: "",
    received: [],
    refused: 0,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
  const refuse = (message: string) => {
    state.refused++;
    return bedrockError(403, "InvalidSignatureException", message);
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const text = await request.text();
    const problem = await signatureProblem(signer, options, request, text);
    if (problem) return refuse(problem);
    const url = new URL(request.url);
    const match = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(url.pathname);
    const operation = match?.[2] ?? url.pathname.slice(1);
    const call: BedrockCall = {
      operation,
      modelId: match ? decodeURIComponent(match[1]) : "",
      headers: Object.fromEntries(request.headers),
      body: text ? JSON.parse(text) : undefined,
    };
    state.received.push(call);
    if (operation === "foundation-models") {
      return Response.json({
        modelSummaries: [{
          modelId: "anthropic.claude-3-haiku-20240307-v1:0",
          providerName: "Anthropic",
        }],
      });
    }
    if (!match) return bedrockError(404, "UnknownOperationException", "Unknown operation");
    return await options.answer(call);
  });
  state.url = `http://127.0.0.1:${server.addr.port}`;
  return state;
}

/** Why a request's signature is not the one its credentials give; undefined when it is. */
async function signatureProblem(
  signer: SignatureV4,
  credentials: FakeBedrockCredentials,
  request: Request,
  body: string,
): Promise<string | undefined> {
  const parsed = AUTHORIZATION.exec(request.headers.get("authorization") ?? "");
  if (!parsed) return "Authorization header requires a valid AWS4-HMAC-SHA256 signature.";
  const [, accessKeyId, day, region, service, signedHeaders, signature] = parsed;
  if (accessKeyId !== credentials.accessKeyId) {
    return "The security token included in the request is invalid.";
  }
  if (region !== credentials.region || service !== "bedrock") {
    return `Credential should be scoped to a valid region and service: ${region}/${service}`;
  }
  const stamp = request.headers.get("x-amz-date") ?? "";
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(stamp);
  if (!date || !stamp.startsWith(day)) return "The x-amz-date header is missing or malformed.";
  const names = signedHeaders.split(";");
  // AWS wants the host and the date signed, and the session token too when there is one.
  const required = [
    "host",
    "x-amz-date",
    ...(credentials.sessionToken ? ["x-amz-security-token"] : []),
  ];
  const unsigned = required.filter((name) => !names.includes(name));
  if (unsigned.length > 0) return `The request must sign ${unsigned.join(", ")}.`;
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  for (const name of names) headers[name] = request.headers.get(name) ?? "";
  const [, year, month, dayOfMonth, hours, minutes, seconds] = date.map(Number);
  const signed = await signer.sign({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
    body,
  }, {
    signingDate: new Date(Date.UTC(year, month - 1, dayOfMonth, hours, minutes, seconds)),
  });
  const expected = String(signed.headers["authorization"]);
  if (expected.endsWith(`SignedHeaders=${signedHeaders}, Signature=${signature}`)) return undefined;
  return "The request signature we calculated does not match the signature you provided. " +
    "Check your AWS Secret Access Key and signing method.";
}
