import { z } from "zod";
import { MAX_OPENAI_INTEGER } from "../core/mod.ts";

const text = z.string();

/**
 * A string, or what `list` accepts. Unlike `z.union`, a list that fails tells where (the item and
 * field at fault) rather than that no option matched.
 */
function textOr<T extends z.ZodTypeAny>(
  list: T,
): z.ZodType<string | z.output<T>, z.ZodTypeDef, unknown> {
  return z.unknown().transform((value, ctx) => {
    if (typeof value === "string") return value;
    const parsed = list.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue(issue);
    return z.NEVER;
  });
}

const inputText = z.object({ type: z.literal("input_text"), text }).passthrough();
const inputImage = z.object({
  type: z.literal("input_image"),
  image_url: z.string().min(1, "Only images given by 'image_url' are supported here"),
  detail: z.enum(["auto", "low", "high"]).nullish(),
}).passthrough();
// An assistant turn of earlier output, sent back as history.
const outputText = z.object({ type: z.literal("output_text"), text }).passthrough();
const refusal = z.object({ type: z.literal("refusal"), refusal: text }).passthrough();

const contentPart = z.discriminatedUnion("type", [inputText, inputImage, outputText, refusal], {
  errorMap: (issue, ctx) =>
    issue.code === "invalid_union_discriminator"
      ? {
        message:
          "Only content of type 'input_text', 'input_image', 'output_text' or 'refusal' is supported here",
      }
      : { message: ctx.defaultError },
});

const messageItem = z.object({
  type: z.literal("message"),
  id: z.string().optional(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: textOr(z.array(contentPart)),
  status: z.string().optional(),
}).passthrough();

const functionCallItem = z.object({
  type: z.literal("function_call"),
  id: z.string().optional(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: text,
  status: z.string().optional(),
}).passthrough();

const functionCallOutputItem = z.object({
  type: z.literal("function_call_output"),
  id: z.string().optional(),
  call_id: z.string().min(1),
  output: textOr(z.array(z.discriminatedUnion("type", [inputText, outputText]))),
  status: z.string().optional(),
}).passthrough();

// A model's reasoning from an earlier native turn: it means nothing to a chat upstream, which
// reasons afresh, so the translation leaves it out.
const reasoningItem = z.object({ type: z.literal("reasoning") }).passthrough();

const ITEM_TYPES = "'message', 'function_call', 'function_call_output' or 'reasoning'";

const inputItem = z.preprocess(
  // OpenAI's "easy" message form leaves the type out.
  (value) =>
    typeof value === "object" && value !== null && !("type" in value) && "role" in value
      ? { ...value, type: "message" }
      : value,
  z.discriminatedUnion("type", [
    messageItem,
    functionCallItem,
    functionCallOutputItem,
    reasoningItem,
  ], {
    errorMap: (issue, ctx) =>
      issue.code === "invalid_union_discriminator"
        ? { message: `Only input items of type ${ITEM_TYPES} are supported here` }
        : { message: ctx.defaultError },
  }),
);

const functionTool = z.object({
  type: z.literal("function"),
  name: z.string().min(1).max(64),
  description: z.string().nullish(),
  parameters: z.record(z.unknown()).nullish(),
  strict: z.boolean().nullish(),
}).passthrough();

const tool = z.discriminatedUnion("type", [functionTool], {
  errorMap: (issue, ctx) =>
    issue.code === "invalid_union_discriminator"
      ? {
        message:
          "Built-in tools (web_search, file_search, code_interpreter, ...) are not supported here; only tools of type 'function' are",
      }
      : { message: ctx.defaultError },
});

const toolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), name: z.string().min(1) }).passthrough(),
], {
  errorMap: () => ({
    message:
      "Only 'auto', 'none', 'required' or a function ({type: 'function', name}) is supported",
  }),
});

const textFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }).passthrough(),
  z.object({ type: z.literal("json_object") }).passthrough(),
  z.object({
    type: z.literal("json_schema"),
    name: z.string().min(1).max(64),
    schema: z.record(z.unknown()),
    description: z.string().nullish(),
    strict: z.boolean().nullish(),
  }).passthrough(),
]);

const unsupported = (what: string) =>
  z.undefined({ invalid_type_error: `${what} not supported here` })
    .or(z.null());

/**
 * `POST /v1/responses` as the gateway validates it. What it cannot honour (built-in tools,
 * background responses, server-side conversations, prompt templates) is refused by name rather
 * than dropped; fields it does not know pass through to native Responses deployments.
 */
export const responsesRequestSchema = z.object({
  model: z.string().min(1).max(256),
  input: textOr(z.array(inputItem)),
  instructions: z.string().nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.number().int().positive().max(MAX_OPENAI_INTEGER).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  text: z.object({ format: textFormat.optional() }).passthrough().nullish(),
  reasoning: z.object({
    effort: z.enum(["none", "minimal", "low", "medium", "high"]).nullish(),
  }).passthrough().nullish(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().min(1).max(256).nullish(),
  metadata: z.record(z.string().max(512)).refine(
    (entries) => Object.keys(entries).length <= 16,
    "At most 16 metadata entries are allowed",
  ).nullish(),
  user: z.string().optional(),
  truncation: z.literal("disabled", {
    errorMap: () => ({ message: "Only 'disabled' is supported here" }),
  }).nullish(),
  background: z.literal(false, {
    errorMap: () => ({ message: "Background responses are not supported here" }),
  }).nullish(),
  conversation: unsupported("Server-side conversations are"),
  prompt: unsupported("Prompt templates are"),
}).passthrough();

/** A validated `POST /v1/responses` body. */
export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

/** One validated input item. */
export type InputItem = z.infer<typeof inputItem>;

/** One content part of an input message. */
export type ContentPart = z.infer<typeof contentPart>;
