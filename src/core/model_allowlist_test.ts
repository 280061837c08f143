import { assert, assertEquals } from "../../tests/assert.ts";
import {
  allowlistEntryProblem,
  allowlistProblem,
  MAX_ALLOWLIST_ENTRIES,
  MAX_ALLOWLIST_ENTRY_LENGTH,
  ModelAllowlist,
} from "./model_allowlist.ts";

const MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4", "o3-mini", "text-embedding-3-small", ""];

function allowed(entries: readonly string[] | null): string[] {
  const list = ModelAllowlist.compile(entries);
  return MODELS.filter((model) => list.allows(model));
}

Deno.test("no list allows every model, an empty list none", () => {
  assertEquals(allowed(null), MODELS);
  assertEquals(allowed([]), []);
  assert(ModelAllowlist.compile(null) === ModelAllowlist.ANY, "no list compiles to nothing");
});

Deno.test("a name allows that model only, compared exactly and case-sensitively", () => {
  assertEquals(allowed(["gpt-4o"]), ["gpt-4o"]);
  assertEquals(allowed(["GPT-4o", "gpt-4o "]), []);
  assertEquals(allowed(["o3-mini", "gpt-4"]), ["gpt-4", "o3-mini"]);
});

Deno.test("an entry ending in '*' allows every model that starts with what precedes it", () => {
  assertEquals(allowed(["gpt-4o*"]), ["gpt-4o", "gpt-4o-mini"]);
  assertEquals(allowed(["gpt-4*"]), ["gpt-4o", "gpt-4o-mini", "gpt-4"]);
  assertEquals(allowed(["mini*"]), [], "a prefix matches at the start only");
  assertEquals(allowed(["gpt-4o-mini*", "text-*"]), ["gpt-4o-mini", "text-embedding-3-small"]);
  assertEquals(allowed(["*"]), MODELS, "'*' alone allows every model");
  assertEquals(allowed(["gpt-4o", "*"]), MODELS);
});

Deno.test("names and prefixes combine, and repeats change nothing", () => {
  assertEquals(allowed(["o3-mini", "gpt-4o*", "o3-mini", "gpt-4o*"]), [
    "gpt-4o",
    "gpt-4o-mini",
    "o3-mini",
  ]);
});

Deno.test("model names and prefixes are valid entries; empty, spaced or mid-'*' ones are not", () => {
  for (
    const entry of [
      "gpt-4o",
      "gpt-4o*",
      "*",
      "ft:gpt-4o-mini:acme::abc123",
      "accounts/fireworks/models/llama-v3p1-8b",
      "claude-3-5-sonnet@20240620",
      "x".repeat(MAX_ALLOWLIST_ENTRY_LENGTH),
    ]
  ) {
    assertEquals(allowlistEntryProblem(entry), undefined, entry);
  }
  const problems: Array<[string, string]> = [
    ["", "must not be empty"],
    ["x".repeat(MAX_ALLOWLIST_ENTRY_LENGTH + 1), "must be at most 256 characters long"],
    ["gpt-*-mini", "may have '*' only as its last character"],
    ["*gpt", "may have '*' only as its last character"],
    ["gpt**", "may have '*' only as its last character"],
    [" gpt-4o", "must not contain whitespace or control characters"],
    ["gpt 4o", "must not contain whitespace or control characters"],
    ["gpt-4o\n", "must not contain whitespace or control characters"],
    ["gpt\u0000", "must not contain whitespace or control characters"],
  ];
  for (const [entry, problem] of problems) {
    assertEquals(allowlistEntryProblem(entry), problem, JSON.stringify(entry));
  }
});

Deno.test("a list names the entry at fault, and its length is bounded", () => {
  assertEquals(allowlistProblem(null), undefined);
  assertEquals(allowlistProblem([]), undefined);
  assertEquals(allowlistProblem(["gpt-4o", "o3*"]), undefined);
  assertEquals(allowlistProblem(Array(MAX_ALLOWLIST_ENTRIES).fill("m")), undefined);
  assertEquals(
    allowlistProblem(Array(MAX_ALLOWLIST_ENTRIES + 1).fill("m")),
    "must have at most 256 entries: it has 257",
  );
  assertEquals(
    allowlistProblem(["gpt-4o", "a*b"]),
    "entry 1 may have '*' only as its last character",
  );
  assertEquals(allowlistProblem(["gpt-4o", 4]), "entry 1 must be a string");
  assertEquals(allowlistProblem("gpt-4o"), "must be a list of model names or null");
  assertEquals(allowlistProblem(undefined), "must be a list of model names or null");
});
