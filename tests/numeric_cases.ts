/**
 * @module
 * Every numeric input of the gateway's routes with values it must refuse (out of range,
 * fractional, negative, a string, huge) and values it must take, for the schema unit tests and
 * the end-to-end test of the bounds alike.
 */

/** One numeric field of a JSON body: values refused with a 400 naming it, and values accepted. */
export interface FieldCase {
  field: string;
  bad: unknown[];
  good: unknown[];
}

const INT32_PAST = 2 ** 31;

// Sampling parameters shared by chat and legacy completions, with OpenAI's documented ranges.
const SAMPLING: FieldCase[] = [
  { field: "temperature", bad: [2.5, -0.1, "1", 1e300], good: [0, 0.7, 2] },
  { field: "top_p", bad: [1.5, -0.1, "1", 1e300], good: [0, 0.3, 1] },
  { field: "n", bad: [0, 129, 1.5, -1, "2", 1e20], good: [1, 128] },
  { field: "presence_penalty", bad: [2.5, -2.5, "1", 1e300, -1e300], good: [-2, 0.5, 2] },
  { field: "frequency_penalty", bad: [2.5, -2.5, "1", 1e300, -1e300], good: [-2, 0.5, 2] },
  {
    field: "logit_bias",
    bad: [
      { "50256": 101 },
      { "50256": -101 },
      { "50256": "1" },
      { "50256": 1e300 },
      { "-1": 1 },
      { "1.5": 1 },
      { "abc": 1 },
      { "99999999999": 1 },
    ],
    good: [{ "50256": -100 }, { "0": 100 }, { "1": 0.5 }],
  },
  {
    field: "seed",
    bad: [1.5, "42", 1e20, -1e20],
    good: [-5, 0, 42, Number.MAX_SAFE_INTEGER],
  },
];

/** `POST /v1/chat/completions`: the fields beside `model` and `messages`. */
export const CHAT_FIELDS: FieldCase[] = [
  { field: "max_tokens", bad: [0, 1.5, -1, "16", 1e20, 1e300, INT32_PAST], good: [1, 4096] },
  {
    field: "max_completion_tokens",
    bad: [0, 1.5, -1, "16", 1e20, 1e300, INT32_PAST],
    good: [1, 4096],
  },
  ...SAMPLING,
  { field: "top_logprobs", bad: [21, 1.5, -1, "5", 1e20], good: [0, 20] },
  { field: "logprobs", bad: [1, "true"], good: [true, false] },
];

/** `POST /v1/completions`: the fields beside `model` and `prompt`. */
export const COMPLETION_FIELDS: FieldCase[] = [
  { field: "max_tokens", bad: [-1, 1.5, "16", 1e20, 1e300, INT32_PAST], good: [0, 16] },
  ...SAMPLING,
  { field: "best_of", bad: [21, 1.5, -1, "2", 1e20], good: [0, 1, 20] },
  { field: "logprobs", bad: [6, 1.5, -1, "2", 1e20], good: [0, 5] },
  { field: "prompt", bad: [[1.5], [-1], [1e20], [INT32_PAST], 5], good: [[0, 50256]] },
];

/** `POST /v1/embeddings`: the fields beside `model` (and `input` when it is not the field). */
export const EMBEDDING_FIELDS: FieldCase[] = [
  { field: "dimensions", bad: [0, 1.5, -1, "8", 1e20, 65_537], good: [1, 8] },
  { field: "input", bad: [[1.5], [-1], [1e20], [INT32_PAST], 5], good: [[1, 2]] },
];

const LIMIT: FieldCase = {
  field: "rpm_limit",
  bad: [0, 1.5, -1, "10", 1e20, 1_000_000_001],
  good: [1, 1_000_000_000, null],
};
const LIMITS = [LIMIT, { ...LIMIT, field: "tpm_limit" }];
const USD_BAD = [-1, -0.01, "10", 1e20, 1_000_000_001];
// A budget of a tenant or a key, and how often it resets: not a number, but bounded all the same.
const BUDGET: FieldCase[] = [
  { field: "budget_usd", bad: USD_BAD, good: [0, 2.5, null] },
  { field: "budget_period", bad: ["hourly", 1, 1e20, ""], good: ["daily", "monthly", null] },
];

/** The admin API's JSON bodies, by route: what each numeric field refuses and takes. */
export const ADMIN_FIELDS = {
  createTenant: [
    { field: "balance_usd", bad: USD_BAD, good: [0, 0.5, 1_000_000_000] },
    ...BUDGET,
    ...LIMITS,
  ],
  updateTenant: [...BUDGET, ...LIMITS],
  createKey: [...BUDGET, ...LIMITS],
  updateKey: [...BUDGET, ...LIMITS],
  credits: [{
    field: "amount_usd",
    bad: [0, 0.0000001, -1, "10", 1e20, 1_000_000_001],
    good: [0.000001, 5],
  }],
} satisfies Record<string, FieldCase[]>;

/** One query parameter: texts refused with a 400 naming it, and texts accepted. */
export interface QueryCase {
  param: string;
  bad: string[];
  good: string[];
}

const WHOLE_BAD = ["-1", "1.5", "abc", "1e20", "0x10", " 5", "99999999999999999999"];
const TIME_BAD = [
  "yesterday",
  "-1",
  "1.5",
  "1",
  "1e20",
  "1700000000",
  "+275760-09-13T00:00:00Z",
  "2024-02-30",
  "2024-01-01T25:00:00Z",
  "0000-01-01",
];
const TIME_GOOD = ["2024-01-01", "2024-01-01T00:00:00Z", "2024-06-30T12:30:00.5+02:00"];

/** The admin API's query parameters, by path. */
export const ADMIN_QUERIES: Record<string, QueryCase[]> = {
  "/internal/tenants": [
    { param: "offset", bad: [...WHOLE_BAD, "1000000001"], good: ["0", "5"] },
    { param: "limit", bad: [...WHOLE_BAD, "0", "1001"], good: ["1", "1000"] },
  ],
  "/internal/queues/dead": [
    { param: "offset", bad: [...WHOLE_BAD, "1000001"], good: ["0", "5"] },
    { param: "limit", bad: [...WHOLE_BAD, "0", "1001"], good: ["1", "1000"] },
  ],
  "/internal/audit": [
    { param: "limit", bad: [...WHOLE_BAD, "0", "1001"], good: ["1", "1000"] },
    { param: "since", bad: TIME_BAD, good: TIME_GOOD },
    { param: "until", bad: TIME_BAD, good: TIME_GOOD },
  ],
  "/internal/tenants/{id}/usage": [
    { param: "since", bad: TIME_BAD, good: TIME_GOOD },
    { param: "until", bad: TIME_BAD, good: TIME_GOOD },
  ],
  "/internal/status": [
    {
      param: "low_balance_usd",
      bad: ["-1", "abc", "1e20", "0x10", "Infinity", "1000000001"],
      good: ["0", "0.25", "25"],
    },
    {
      param: "key_budget_ratio",
      bad: ["-1", "abc", "1e20", "0x10", "0", "2", "1.5"],
      good: ["0.01", "0.9", "1"],
    },
  ],
};
