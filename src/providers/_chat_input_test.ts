import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { type ChatCompletionRequest, HttpError } from "../core/mod.ts";
import { type BlockWriter, readConversation, readTools, refuseUnsupported } from "./_chat_input.ts";

const NONE = new Set<string>();
const support = { upstream: "Upstream", handled: NONE, dropped: NONE };
const hello = { model: "m", messages: [{ role: "user" as const, content: "Hi" }] };

/** The `param` and message of what `read` throws, which must be a refusal. */
function refused(read: () => unknown): [string | null, string] {
  const error = assertThrows(read);
  assert(error instanceof HttpError, String(error));
  assertEquals([error.status, error.code], [400, "unsupported_parameter"]);
  return [error.param, error.message];
}

const TEXT: BlockWriter<string> = {
  user: (part) => part.kind === "text" ? part.text : `image ${JSON.stringify(part.image)}`,
  assistant: (part) => part.kind === "text" ? part.text : `call ${part.call.name}`,
  toolResult: (id) => `result ${id}`,
};

Deno.test("a refused request names the field it is refused for", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ n: 2 }, "n"],
    [{ logprobs: true }, "logprobs"],
    [{ response_format: { type: "json_object" } }, "response_format"],
    [{ logit_bias: { "1": 1 } }, "logit_bias"],
    [{ modalities: ["audio"] }, "modalities"],
    [{ prediction: { type: "content" } }, "prediction"],
  ];
  for (const [fields, param] of cases) {
    const request = { ...hello, ...fields } as ChatCompletionRequest;
    assertEquals(refused(() => refuseUnsupported(request, support))[0], param);
  }
  const noContent = [{ role: "user" as const, content: "" }];
  assertEquals(refused(() => readConversation(noContent, { upstream: "U", write: TEXT })), [
    "messages",
    "messages[0] has no content",
  ]);
  const badTool = { ...hello, tools: [{ type: "retrieval" }] } as ChatCompletionRequest;
  assertEquals(refused(() => readTools(badTool, "U"))[0], "tools");
});

Deno.test("an upstream that translates several choices and JSON formats is not refused them", () => {
  const request = { ...hello, n: 2, response_format: { type: "json_object" } };
  const translates = new Set(["n", "response_format"] as const);
  refuseUnsupported(request as ChatCompletionRequest, { ...support, translates });
});

Deno.test("images come from http(s) URLs, and from the other schemes an upstream fetches", () => {
  const image = (url: string) => [{
    role: "user" as const,
    content: [{ type: "image_url", image_url: { url } }],
  }];
  const read = (url: string, imageSchemes?: string[]) =>
    readConversation(image(url), { upstream: "U", write: TEXT, imageSchemes }).turns[0].blocks;
  assertEquals(read("HTTPS://example.com/a.png"), [
    'image {"kind":"url","url":"HTTPS://example.com/a.png"}',
  ]);
  assertEquals(read("gs://bucket/a.png", ["gs"]), [
    'image {"kind":"url","url":"gs://bucket/a.png"}',
  ]);
  assertEquals(
    refused(() => read("gs://bucket/a.png"))[1],
    "messages[0].content[0]: an image must be an http(s) URL or a base64 data URL",
  );
  assertEquals(
    refused(() => read("ftp://host/a.png", ["gs"]))[1],
    "messages[0].content[0]: an image must be an http(s) or gs:// URL or a base64 data URL",
  );
});

Deno.test("audio and file parts are read by the upstreams that write them and refused by the others", () => {
  const messages = [{
    role: "user" as const,
    content: [{ type: "input_audio", input_audio: { data: "AA", format: "wav" } }, {
      type: "file",
      file: { file_id: "f" },
    }],
  }];
  const [, message] = refused(() => readConversation(messages, { upstream: "U", write: TEXT }));
  assertEquals(
    message,
    "messages[0].content[0]: content parts of type 'input_audio' are not supported by U",
  );
  const write = {
    ...TEXT,
    audio: (audio: unknown, where: string) => `audio ${JSON.stringify(audio)} at ${where}`,
    file: (file: unknown, where: string) => `file ${JSON.stringify(file)} at ${where}`,
  };
  assertEquals(readConversation(messages, { upstream: "U", write }).turns[0].blocks, [
    'audio {"data":"AA","format":"wav"} at messages[0].content[0]',
    'file {"file_id":"f"} at messages[0].content[1]',
  ]);
});
