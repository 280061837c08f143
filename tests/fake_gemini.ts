/**
 * @module
 * A fake Google Gemini upstream for tests, on 127.0.0.1: the Gemini API of Google AI Studio
 * (`/v1beta/models/{model}:generateContent`, key in `x-goog-api-key`) and of Vertex AI
 * (`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:...`, a bearer
 * token), answering as Google's API reference shows: whole answers, `alt=sse` streams, function
 * calls with thought signatures it wants back, a prompt blocked for safety, embeddings, Google's
 * error bodies and, given a service account, Google's token endpoint. It records what it receives
 * and can be told to fail or stall.
 */

/** What the fake accepts as credentials. */
export interface FakeGeminiOptions {
  /** The key AI Studio calls must send as `x-goog-api-key`. */
  apiKey?: string;
  /** The bearer token Vertex AI calls must send. */
  token?: string;
  /**
   * A service account whose signed assertions the fake's `/token` endpoint exchanges for `token`,
   * as Google's OAuth endpoint does; see {@linkcode createServiceAccountKey}.
   */
  serviceAccount?: FakeServiceAccount;
  /** How it answers at first; `behaviour` can be changed later. */
  behaviour?: GeminiBehaviour;
}

/** How the fake answers the next calls. */
export interface GeminiBehaviour {
  /** Answer with this HTTP status and Google's error body. */
  status?: number;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Number of text chunks in a stream before the one that ends it. */
  chunks?: number;
  /** Break the connection off after this many stream events, as a reset mid-stream. */
  breakAfterEvents?: number;
  /** Leave `usageMetadata` out of answers. */
  omitUsage?: boolean;
}

/** The `usageMetadata` of every generated answer: 12 in, 5 written and 3 thought, 4 cached. */
export const FAKE_GEMINI_USAGE = {
  promptTokenCount: 12,
  candidatesTokenCount: 5,
  thoughtsTokenCount: 3,
  cachedContentTokenCount: 4,
  totalTokenCount: 20,
};

/** The text of every whole answer that calls no function. */
export const FAKE_GEMINI_TEXT = "fake gemini answer";

/** The thought signature of every function call, which must come back with it (as Gemini 3 wants). */
export const FAKE_SIGNATURE = "CiQB0e2Kb9mX3qL8p0r7dZ1hVw6b/Kk+Qo9y2nN4rTz8vQ==";

/** A prompt holding this word is blocked for safety, as Google blocks one. */
export const BLOCKED_WORD = "forbidden";

/** A call the fake received. */
export interface ReceivedGeminiCall {
  method: string;
  /** The path, e.g. `/v1beta/models/gemini-2.5-flash:generateContent`. */
  path: string;
  /** The query string, e.g. `?alt=sse`. */
  search: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
}

/** A running fake Gemini. */
export interface FakeGemini extends AsyncDisposable {
  /** Its base URL (no path), for a deployment's `base_url`. */
  url: string;
  received: ReceivedGeminiCall[];
  behaviour: GeminiBehaviour;
  /** Token exchanges the `/token` endpoint granted. */
  tokensGranted: number;
  close(): Promise<void>;
}

/** A service account: its JSON key for the gateway, its public key for the fake. */
export interface FakeServiceAccount {
  clientEmail: string;
  publicKey: CryptoKey;
  /** The JSON key file's text, its `token_uri` the fake's. */
  keyFile(tokenUri: string): string;
}

/** Makes a service account with a fresh RSA key, as the Cloud console would. */
export async function createServiceAccountKey(): Promise<FakeServiceAccount> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const lines = der.toBase64().match(/.{1,64}/g) ?? [];
  const pem = `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
  const clientEmail = "gateway@acme-prod-42.iam.gserviceaccount.com";
  return {
    clientEmail,
    publicKey: pair.publicKey,
    keyFile: (tokenUri) =>
      JSON.stringify({
        type: "service_account",
        project_id: "acme-prod-42",
        private_key_id: "0123456789abcdef",
        private_key: pem,
        client_email: clientEmail,
        token_uri: tokenUri,
      }),
  };
}

interface Part {
  text?: string;
  functionCall?: { name: string; args: Record<string, unknown> };
  functionResponse?: { name: string; response: unknown };
  [key: string]: unknown;
}

const AI_STUDIO_PATH = /^\/v1beta\/models\/([^/:]+):(\w+)$/;
const VERTEX_PATH =
  /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/([^/:]+):(\w+)$/;

const encoder = new TextEncoder();

/** Starts a fake Gemini; `apiKey` and `token` default to test values. */
export function startFakeGemini(options: FakeGeminiOptions = {}): FakeGemini {
  const apiKey = options.apiKey ?? "fake-gemini-key";
  const token = options.token ?? "fake-vertex-token";
  const state: FakeGemini = {
    url: "",
    received: [],
    behaviour: options.behaviour ?? {},
    tokensGranted: 0,
    close: () => server.shutdown(),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/token" && options.serviceAccount) {
      const granted = await exchangeToken(request, {
        account: options.serviceAccount,
        audience: `${state.url}/token`,
        token,
      });
      if (granted.ok) state.tokensGranted++;
      return granted;
    }
    const text = await request.text();
    let body: Record<string, unknown> | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    }
    state.received.push({
      method: request.method,
      path: url.pathname,
      search: url.search,
      headers: Object.fromEntries(request.headers),
      body,
    });
    const behaviour = state.behaviour;
    if (behaviour.delayMs) await sleep(behaviour.delayMs, request.signal);
    const vertex = VERTEX_PATH.exec(url.pathname);
    const route = vertex ?? AI_STUDIO_PATH.exec(url.pathname);
    const refused = vertex ? checkToken(request.headers, token) : checkKey(request.headers, apiKey);
    if (refused) return refused;
    if (request.method === "GET" && url.pathname === "/v1beta/models") return modelList(url);
    if (behaviour.status && behaviour.status >= 400) {
      return googleError(behaviour.status, statusName(behaviour.status), "fake failure");
    }
    if (!route || request.method !== "POST") {
      return googleError(404, "NOT_FOUND", `Method not found: ${url.pathname}`);
    }
    const [, model, method] = route;
    const unsigned = unsignedCall(body);
    if (unsigned) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        `Function call \`${unsigned}\` is missing a \`thought_signature\`.`,
      );
    }
    switch (method) {
      case "generateContent":
        return Response.json(generated(body, behaviour, model));
      case "streamGenerateContent":
        if (url.searchParams.get("alt") !== "sse") {
          return googleError(400, "INVALID_ARGUMENT", "The fake streams with alt=sse only");
        }
        return streamed(body, behaviour, model);
      case "embedContent":
        return Response.json({ embedding: embedding(body, 0) });
      case "batchEmbedContents": {
        const requests = Array.isArray(body?.requests) ? body.requests : [];
        return Response.json({
          embeddings: requests.map((one: Record<string, unknown>, index: number) =>
            embedding(one, index)
          ),
        });
      }
      case "predict": {
        // Vertex AI's embeddings: one prediction per instance, with its token count.
        const instances = Array.isArray(body?.instances) ? body.instances : [];
        const parameters = body?.parameters as Record<string, unknown> | undefined;
        return Response.json({
          predictions: instances.map((instance: { content?: string }, index: number) => ({
            embeddings: {
              ...embedding(parameters, index),
              statistics: { token_count: String(instance.content ?? "").split(" ").length },
            },
          })),
        });
      }
      default:
        return googleError(404, "NOT_FOUND", `Method not found: ${method}`);
    }
  });
  state.url = `http://127.0.0.1:${server.addr.port}`;
  return state;
}

/**
 * Google's JWT bearer grant: a form with an RS256 assertion the service account signed, for the
 * `cloud-platform` scope, at most an hour long.
 */
async function exchangeToken(
  request: Request,
  { account, audience, token }: { account: FakeServiceAccount; audience: string; token: string },
): Promise<Response> {
  const refuse = (description: string) =>
    Response.json({ error: "invalid_grant", error_description: description }, { status: 400 });
  const form = new URLSearchParams(await request.text());
  if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    return refuse("Invalid grant_type");
  }
  const [header, claims, signature] = (form.get("assertion") ?? "").split(".");
  const decode = (part: string) => Uint8Array.fromBase64(part ?? "", { alphabet: "base64url" });
  let valid = false;
  try {
    valid = await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      account.publicKey,
      decode(signature),
      new TextEncoder().encode(`${header}.${claims}`),
    );
  } catch {
    valid = false;
  }
  if (!valid) return refuse("Invalid JWT Signature.");
  const fields = JSON.parse(new TextDecoder().decode(decode(claims)));
  const { alg } = JSON.parse(new TextDecoder().decode(decode(header)));
  if (
    alg !== "RS256" || fields.iss !== account.clientEmail || fields.aud !== audience ||
    fields.scope !== "https://www.googleapis.com/auth/cloud-platform" ||
    !(fields.exp > fields.iat && fields.exp - fields.iat <= 3600)
  ) {
    return refuse("Invalid JWT: claims");
  }
  return Response.json({ access_token: token, expires_in: 3599, token_type: "Bearer" });
}

/** The vector the fake answers for the input at `index`, `outputDimensionality` long. */
export function fakeGeminiEmbedding(index: number, dimensions = 3): number[] {
  return Array.from({ length: dimensions }, (_, at) => at === 0 ? index : 0.5 / (at + 1));
}

function embedding(request: Record<string, unknown> | undefined, index: number) {
  const dimensions = typeof request?.outputDimensionality === "number"
    ? request.outputDimensionality
    : 3;
  return { values: fakeGeminiEmbedding(index, dimensions) };
}

/** AI Studio answers a wrong key with 400 and a missing one with 403, as Google does. */
function checkKey(headers: Headers, apiKey: string): Response | undefined {
  const sent = headers.get("x-goog-api-key");
  if (sent === apiKey) return undefined;
  if (sent === null) {
    return googleError(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.");
  }
  return googleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
    { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" },
  ]);
}

function checkToken(headers: Headers, token: string): Response | undefined {
  if (headers.get("authorization") === `Bearer ${token}`) return undefined;
  return googleError(
    401,
    "UNAUTHENTICATED",
    "Request had invalid authentication credentials. Expected OAuth 2 access token.",
  );
}

function modelList(url: URL): Response {
  // Two pages, to make a client follow `nextPageToken`.
  if (url.searchParams.get("pageToken") === "page-2") {
    return Response.json({ models: [{ name: "models/text-embedding-004" }] });
  }
  return Response.json({
    models: [{ name: "models/gemini-2.5-flash" }, { name: "models/gemini-2.5-pro" }],
    nextPageToken: "page-2",
  });
}

/** Google's error body: `{error: {code, message, status, details?}}`. */
function googleError(
  code: number,
  status: string,
  message: string,
  details?: unknown[],
): Response {
  const error = details ? { code, message, status, details } : { code, message, status };
  return Response.json({ error }, { status: code });
}

function statusName(code: number): string {
  if (code === 429) return "RESOURCE_EXHAUSTED";
  if (code === 503) return "UNAVAILABLE";
  if (code >= 500) return "INTERNAL";
  return "INVALID_ARGUMENT";
}

/** The parts of the request's last turn. */
function lastParts(body: Record<string, unknown> | undefined): Part[] {
  const contents = Array.isArray(body?.contents) ? body.contents : [];
  const last = contents.at(-1) as { parts?: Part[] } | undefined;
  return Array.isArray(last?.parts) ? last.parts : [];
}

/** The first function the request declares, to call it when no function has answered yet. */
function firstFunction(body: Record<string, unknown> | undefined): string | undefined {
  const tools = Array.isArray(body?.tools) ? body.tools : [];
  const declarations = tools.flatMap((tool: { functionDeclarations?: Array<{ name: string }> }) =>
    tool.functionDeclarations ?? []
  );
  return declarations[0]?.name;
}

/** What the model says: a function call, a reply to a function's answer, or plain text. */
function answerParts(body: Record<string, unknown> | undefined): Part[] {
  const parts = lastParts(body);
  const answered = parts.find((part) => part.functionResponse);
  if (answered) {
    return [{ text: `The function said ${JSON.stringify(answered.functionResponse?.response)}` }];
  }
  const name = firstFunction(body);
  const mode = (body?.toolConfig as { functionCallingConfig?: { mode?: string } } | undefined)
    ?.functionCallingConfig?.mode;
  if (name && mode !== "NONE") {
    return [{ functionCall: { name, args: { city: "Paris" } }, thoughtSignature: FAKE_SIGNATURE }];
  }
  return [{ text: FAKE_GEMINI_TEXT }];
}

/** The name of a function call of an earlier model turn sent back without its signature. */
function unsignedCall(body: Record<string, unknown> | undefined): string | undefined {
  const contents = Array.isArray(body?.contents) ? body.contents : [];
  for (const content of contents as Array<{ role?: string; parts?: Part[] }>) {
    if (content.role !== "model") continue;
    const call = (content.parts ?? []).find((part) =>
      part.functionCall && part.thoughtSignature !== FAKE_SIGNATURE
    );
    if (call) return call.functionCall?.name;
  }
  return undefined;
}

function blocked(body: Record<string, unknown> | undefined): boolean {
  return JSON.stringify(lastParts(body)).includes(BLOCKED_WORD);
}

function generated(
  body: Record<string, unknown> | undefined,
  behaviour: GeminiBehaviour,
  model: string,
) {
  const usage = behaviour.omitUsage ? {} : { usageMetadata: FAKE_GEMINI_USAGE };
  if (blocked(body)) {
    return {
      promptFeedback: {
        blockReason: "SAFETY",
        safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH" }],
      },
      ...usage,
      modelVersion: model,
    };
  }
  const count = Number(
    (body?.generationConfig as { candidateCount?: number } | undefined)?.candidateCount ?? 1,
  );
  const parts = answerParts(body);
  return {
    candidates: Array.from({ length: count }, (_, index) => ({
      content: { role: "model", parts },
      finishReason: "STOP",
      index,
    })),
    ...usage,
    modelVersion: model,
    responseId: "fake-response-id",
  };
}

function streamed(
  body: Record<string, unknown> | undefined,
  behaviour: GeminiBehaviour,
  model: string,
): Response {
  const envelope = { modelVersion: model, responseId: "fake-stream-id" };
  const events: unknown[] = [];
  if (blocked(body)) {
    events.push(generated(body, behaviour, model));
  } else {
    const parts = answerParts(body);
    const calls = parts.some((part) => part.functionCall);
    const texts = calls ? [] : Array.from({ length: behaviour.chunks ?? 3 }, (_, i) => `part${i} `);
    const early = behaviour.omitUsage
      ? {}
      : { usageMetadata: { promptTokenCount: FAKE_GEMINI_USAGE.promptTokenCount } };
    for (const text of texts) {
      events.push({ candidates: [{ content: { role: "model", parts: [{ text }] } }], ...early });
    }
    events.push({
      candidates: [{
        content: { role: "model", parts: calls ? parts : [{ text: "end" }] },
        finishReason: "STOP",
      }],
      ...(behaviour.omitUsage ? {} : { usageMetadata: FAKE_GEMINI_USAGE }),
      ...envelope,
    });
  }
  let index = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (index === behaviour.breakAfterEvents) {
        return controller.error(new Error("fake Gemini broke the stream off"));
      }
      if (index >= events.length) return controller.close();
      // Google ends its events with CRLF pairs.
      controller.enqueue(encoder.encode(`data: ${JSON.stringify(events[index++])}\r\n\r\n`));
    },
  }, { highWaterMark: 0 });
  return new Response(stream, { headers: { "content-type": "text/event-stream" } });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
