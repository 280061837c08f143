/**
 * @module
 * The parts of Google's Gemini API (`generateContent`, `streamGenerateContent`, `embedContent`,
 * `batchEmbedContents`, `models.list`) the gateway speaks, as its API reference describes them;
 * AI Studio's `v1beta` and Vertex AI's `v1` share these shapes.
 */

/** One part of a turn: exactly one of its data fields is set. */
export interface GeminiPart {
  text?: string;
  /** True on a part that holds the model's thinking, not its answer. */
  thought?: boolean;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: { name: string; args?: Record<string, unknown>; id?: string };
  functionResponse?: { name: string; response: Record<string, unknown>; id?: string };
  /** The model's reasoning behind the part, opaque; Gemini 3 wants a call's back with it. */
  thoughtSignature?: string;
}

/** A part that calls a function. */
export type GeminiFunctionCallPart = GeminiPart & {
  functionCall: NonNullable<GeminiPart["functionCall"]>;
};

/** One turn of a conversation. */
export interface GeminiContent {
  role?: "user" | "model";
  parts: GeminiPart[];
}

/** A function the model may call; its parameters as JSON Schema. */
export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parametersJsonSchema?: Record<string, unknown>;
}

/** How the model must use the functions. */
export interface GeminiToolConfig {
  functionCallingConfig: { mode: "AUTO" | "ANY" | "NONE"; allowedFunctionNames?: string[] };
}

/** Sampling and output settings. */
export interface GeminiGenerationConfig {
  temperature?: number;
  topP?: number;
  candidateCount?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  responseMimeType?: string;
  responseJsonSchema?: Record<string, unknown>;
  /** Tokens the model may think with; 0 turns thinking off where the model allows it. */
  thinkingConfig?: { thinkingBudget: number };
}

/** The body of `generateContent` and `streamGenerateContent`. */
export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: Array<{ functionDeclarations: GeminiFunctionDeclaration[] }>;
  toolConfig?: GeminiToolConfig;
  generationConfig?: GeminiGenerationConfig;
}

/** Token counts of an answer; `promptTokenCount` includes the cached ones. */
export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
  cachedContentTokenCount?: number;
  totalTokenCount?: number;
}

/** One answer of several (`candidateCount`). */
export interface GeminiCandidate {
  content?: { role?: string; parts?: GeminiPart[] };
  finishReason?: string;
  index?: number;
}

/** A whole answer, and each event of a stream. */
export interface GeminiResponse {
  candidates?: GeminiCandidate[];
  /** Set instead of candidates when the prompt itself was blocked. */
  promptFeedback?: {
    blockReason?: string;
    safetyRatings?: Array<{ category?: string; probability?: string; blocked?: boolean }>;
  };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
}

/** One text to embed, as `embedContent` takes it and each of `batchEmbedContents`' requests. */
export interface GeminiEmbedRequest {
  /** `models/{model}`; required in a batch. */
  model?: string;
  content: { parts: Array<{ text: string }> };
  outputDimensionality?: number;
}

/** One vector. */
export interface GeminiEmbedding {
  values: number[];
}

/** One model of `models.list` (AI Studio) or `publishers.models.list` (Vertex AI). */
export interface GeminiModel {
  /** `models/{model}` or `publishers/google/models/{model}`. */
  name: string;
}

/** A page of the model list; AI Studio names it `models`, Vertex AI `publisherModels`. */
export interface GeminiModelPage {
  models?: GeminiModel[];
  publisherModels?: GeminiModel[];
  nextPageToken?: string;
}

/** Google's error body, `error.status` being a `google.rpc.Code` name. */
export interface GeminiErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: Array<{ reason?: string; [key: string]: unknown }>;
  };
}
