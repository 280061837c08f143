/** Most entries one model allowlist may hold. */
export const MAX_ALLOWLIST_ENTRIES = 256;

/** Longest entry of a model allowlist: as long as the longest model name a request may send. */
export const MAX_ALLOWLIST_ENTRY_LENGTH = 256;

const WHITESPACE_OR_CONTROL = /[\s\p{Cc}]/u;

/**
 * Why `entry` cannot be in a model allowlist, as the end of a sentence about it, or undefined
 * when it can: a public model name (`gpt-4o-mini`), or a prefix with `*` as its last character
 * (`gpt-4o*`; `*` alone stands for every model).
 */
export function allowlistEntryProblem(entry: string): string | undefined {
  if (entry.length === 0) return "must not be empty";
  if (entry.length > MAX_ALLOWLIST_ENTRY_LENGTH) {
    return `must be at most ${MAX_ALLOWLIST_ENTRY_LENGTH} characters long`;
  }
  // No model name holds them, so such an entry is a mistake that would silently match nothing.
  if (WHITESPACE_OR_CONTROL.test(entry)) return "must not contain whitespace or control characters";
  const star = entry.indexOf("*");
  if (star !== -1 && star !== entry.length - 1) return "may have '*' only as its last character";
  return undefined;
}

/**
 * Why `list` cannot be a model allowlist, naming the entry at fault, or undefined when it can.
 * Null (no list: every model) is a valid allowlist; so is an empty list (no model).
 */
export function allowlistProblem(list: unknown): string | undefined {
  if (list === null) return undefined;
  if (!Array.isArray(list)) return "must be a list of model names or null";
  if (list.length > MAX_ALLOWLIST_ENTRIES) {
    return `must have at most ${MAX_ALLOWLIST_ENTRIES} entries: it has ${list.length}`;
  }
  for (const [index, entry] of list.entries()) {
    if (typeof entry !== "string") return `entry ${index} must be a string`;
    const problem = allowlistEntryProblem(entry);
    if (problem) return `entry ${index} ${problem}`;
  }
  return undefined;
}

/**
 * A model allowlist compiled for matching: exact names in a set, prefixes in a list. Compiled
 * once when a key is loaded, so a request's check costs a set lookup and a few `startsWith`.
 */
export class ModelAllowlist {
  /** The allowlist of no list: every model. */
  static readonly ANY: ModelAllowlist = new ModelAllowlist(undefined, []);

  /** Undefined when every model is allowed. */
  readonly #names: ReadonlySet<string> | undefined;
  readonly #prefixes: readonly string[];

  private constructor(names: ReadonlySet<string> | undefined, prefixes: readonly string[]) {
    this.#names = names;
    this.#prefixes = prefixes;
  }

  /** Compiles a list of names and `*`-ended prefixes; null allows every model, `[]` none. */
  static compile(entries: readonly string[] | null): ModelAllowlist {
    if (entries === null) return ModelAllowlist.ANY;
    const names = new Set<string>();
    const prefixes = new Set<string>();
    for (const entry of entries) {
      if (entry.endsWith("*")) prefixes.add(entry.slice(0, -1));
      else names.add(entry);
    }
    if (prefixes.has("")) return ModelAllowlist.ANY;
    return new ModelAllowlist(names, [...prefixes]);
  }

  /** Whether `model`, a public model name, is allowed; names compare case-sensitively. */
  allows(model: string): boolean {
    if (this.#names === undefined || this.#names.has(model)) return true;
    for (const prefix of this.#prefixes) if (model.startsWith(prefix)) return true;
    return false;
  }
}
