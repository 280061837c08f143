import { badRequest } from "../core/mod.ts";
import type { ErrorExplainer } from "./_upstream_http.ts";
import type { ChunkShaper } from "./openai_stream.ts";

/**
 * Request changes an OpenAI-compatible upstream needs, as data: what it rejects is left out or
 * refused, what it names otherwise is renamed.
 */
export interface RequestRules {
  /** Top-level fields it rejects, left out of the call. */
  drop?: readonly string[];
  /** Fields of each chat message it rejects, left out. */
  dropFromMessages?: readonly string[];
  /** Fields it names otherwise: OpenAI's name to its own. */
  rename?: Readonly<Record<string, string>>;
  /** The most choices (`n`) it makes per request; asking for more is the client's 400. */
  maxChoices?: number;
  /**
   * False when it rejects `stream_options`: streams are then not asked for their usage, which
   * such an upstream sends on its own (or the gateway estimates).
   */
  streamOptions?: boolean;
}

/** How an OpenAI-compatible upstream differs from OpenAI's own API. */
export interface OpenAIDialect {
  /** The URL of an API path such as `/chat/completions` under `upstreamModel`; `{base}{path}` by default. */
  url?(path: string, upstreamModel: string): string;
  /** The model named in the body; the upstream model by default. */
  bodyModel?(upstreamModel: string): string;
  /** The headers carrying its credentials; the key as a bearer token by default. */
  credentials?(): Promise<Record<string, string>>;
  /** What its request rules are; none by default. */
  rules?: RequestRules;
  /** Reads its own 4xx bodies, e.g. a content filter's verdict. */
  explainError?: ErrorExplainer;
  /** Makes the chunk shaper of one stream; chunks are relayed untouched by default. */
  streamShaper?(): ChunkShaper;
}

/** A request body as `rules` have the upstream take it; throws the client's 400 for what they refuse. */
export function applyRules<T extends object>(
  body: T,
  { rules, provider }: { rules: RequestRules | undefined; provider: string },
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body as Record<string, unknown> };
  if (!rules) return out;
  const n = out.n;
  if (rules.maxChoices !== undefined && typeof n === "number" && n > rules.maxChoices) {
    throw badRequest(
      `The provider '${provider}' returns at most ${rules.maxChoices} choice(s): 'n' must be at most ${rules.maxChoices}`,
      "unsupported_parameter",
      "n",
    );
  }
  for (const field of rules.drop ?? []) delete out[field];
  if (rules.streamOptions === false) delete out.stream_options;
  for (const [from, to] of Object.entries(rules.rename ?? {})) {
    if (!(from in out)) continue;
    // The client's own spelling of the upstream's name wins over OpenAI's.
    if (!(to in out)) out[to] = out[from];
    delete out[from];
  }
  const fields = rules.dropFromMessages ?? [];
  if (fields.length > 0 && Array.isArray(out.messages)) {
    out.messages = out.messages.map((message: unknown) => {
      if (typeof message !== "object" || message === null) return message;
      const copy: Record<string, unknown> = { ...message };
      for (const field of fields) delete copy[field];
      return copy;
    });
  }
  return out;
}
