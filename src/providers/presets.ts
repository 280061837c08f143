import type { RequestRules } from "./_openai_dialect.ts";
import { OpenAIProvider, type UpstreamFetch } from "./openai.ts";
import type { Provider } from "./types.ts";

/** A named OpenAI-compatible service: where it is, which key it takes and how it differs. */
export interface OpenAIPreset {
  /** Its base URL, version path included; a deployment's `base_url` overrides it. */
  baseUrl: string;
  /** The environment variable holding its key, used when a deployment sets no `api_key_env`. */
  keyVariable: string;
  /** Whether it refuses calls without a key (local servers take none). */
  keyRequired: boolean;
  /** Whether it serves legacy completions (`/completions`). */
  completions: boolean;
  /** Whether it serves embeddings (`/embeddings`). */
  embeddings: boolean;
  /** What it rejects or names otherwise. */
  rules?: RequestRules;
}

/** OpenAI's fields that only OpenAI itself takes, which stricter services reject. */
const OPENAI_ONLY = ["store", "metadata", "service_tier", "prediction", "modalities", "audio"];

/**
 * The presets a deployment's `provider` may name, from each service's API documentation. Groq
 * answers 400 to `logprobs`, `logit_bias`, `top_logprobs`, `messages[].name` and `n` over 1;
 * Mistral calls `seed` `random_seed`, takes `max_tokens` only, rejects unknown fields (422) such
 * as `stream_options`, and puts the usage on a stream's last chunk by itself.
 */
export const OPENAI_PRESETS: Readonly<Record<string, OpenAIPreset>> = {
  groq: {
    baseUrl: "https://api.groq.com/openai/v1",
    keyVariable: "GROQ_API_KEY",
    keyRequired: true,
    completions: false,
    embeddings: false,
    rules: {
      drop: ["logprobs", "top_logprobs", "logit_bias"],
      dropFromMessages: ["name"],
      maxChoices: 1,
    },
  },
  mistral: {
    baseUrl: "https://api.mistral.ai/v1",
    keyVariable: "MISTRAL_API_KEY",
    keyRequired: true,
    completions: false,
    embeddings: true,
    rules: {
      drop: ["logprobs", "top_logprobs", "logit_bias", "user", ...OPENAI_ONLY],
      rename: { seed: "random_seed", max_completion_tokens: "max_tokens" },
      streamOptions: false,
    },
  },
  deepseek: {
    baseUrl: "https://api.deepseek.com/v1",
    keyVariable: "DEEPSEEK_API_KEY",
    keyRequired: true,
    completions: false,
    embeddings: false,
  },
  openrouter: {
    baseUrl: "https://openrouter.ai/api/v1",
    keyVariable: "OPENROUTER_API_KEY",
    keyRequired: true,
    completions: true,
    embeddings: false,
  },
  together: {
    baseUrl: "https://api.together.xyz/v1",
    keyVariable: "TOGETHER_API_KEY",
    keyRequired: true,
    completions: true,
    embeddings: true,
  },
  fireworks: {
    baseUrl: "https://api.fireworks.ai/inference/v1",
    keyVariable: "FIREWORKS_API_KEY",
    keyRequired: true,
    completions: true,
    embeddings: true,
  },
  vllm: {
    baseUrl: "http://127.0.0.1:8000/v1",
    keyVariable: "VLLM_API_KEY",
    keyRequired: false,
    completions: true,
    embeddings: true,
  },
  ollama: {
    baseUrl: "http://127.0.0.1:11434/v1",
    keyVariable: "OLLAMA_API_KEY",
    keyRequired: false,
    completions: true,
    embeddings: true,
  },
};

/** What a preset's provider is built from. */
export interface PresetSettings {
  /** The deployment's `base_url`; the preset's own by default. */
  baseUrl?: string;
  apiKey?: string;
  fetch?: UpstreamFetch;
}

/**
 * The provider of preset `name`: the OpenAI base under the preset's name (its `provider` label),
 * with its rules, serving only the endpoints the service has.
 */
export function createPresetProvider(name: string, settings: PresetSettings): Provider {
  const preset = OPENAI_PRESETS[name];
  if (preset === undefined) throw new TypeError(`Cannot use the preset '${name}': there is none`);
  if (preset.keyRequired && !settings.apiKey) {
    throw new Error(`needs an api_key_env (or ${preset.keyVariable})`);
  }
  const base = new OpenAIProvider({
    name,
    baseUrl: settings.baseUrl ?? preset.baseUrl,
    apiKey: settings.apiKey,
    fetch: settings.fetch,
    dialect: { rules: preset.rules },
  });
  return {
    name,
    listModels: (signal) => base.listModels(signal),
    chatCompletion: (request, call) => base.chatCompletion(request, call),
    ...(preset.completions
      ? { completions: (request, call) => base.completions(request, call) }
      : {}),
    ...(preset.embeddings ? { embeddings: (request, call) => base.embeddings(request, call) } : {}),
  } satisfies Provider;
}
