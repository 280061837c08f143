import type { z } from "zod";
import { badRequest, HttpError } from "../core/mod.ts";

/** Reads a JSON request body of at most `maxBytes` and validates it with `schema`. */
export async function readJsonBody<T extends z.ZodTypeAny>(
  request: Request,
  options: { schema: T; maxBytes: number },
): Promise<z.output<T>> {
  return parseJsonBody(await readBodyBytes(request, options.maxBytes), options.schema);
}

/** Parses raw body bytes as UTF-8 JSON and validates them with `schema`. */
export function parseJsonBody<T extends z.ZodTypeAny>(bytes: Uint8Array, schema: T): z.output<T> {
  return validateBody(parseJson(bytes), schema);
}

/** Parses raw body bytes as UTF-8 JSON; 400 when they are none, or not that. */
export function parseJson(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw badRequest("The request has no body", "invalid_json");
  const text = decodeUtf8(bytes);
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest("The request body is not valid JSON", "invalid_json");
  }
}

/** Validates a parsed body with `schema`; 400 naming the first field at fault. */
export function validateBody<T extends z.ZodTypeAny>(json: unknown, schema: T): z.output<T> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue.path.join(".");
    const where = param ? ` at '${param}'` : "";
    throw badRequest(`Invalid request body${where}: ${issue.message}`, "invalid_request", param);
  }
  return parsed.data;
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `The request body is larger than ${maxBytes} bytes`, {
    type: "invalid_request_error",
    code: "request_too_large",
  });
}

/** The raw request body, empty when there is none; 413 past `maxBytes`. */
export async function readBodyBytes(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return new Uint8Array();
  // The server holds a body to its declared length, so a declared size within the limit is safe
  // to read at once; only bodies of unknown length are counted as they arrive.
  if (Number.isFinite(declared) && request.headers.has("content-length")) {
    return new Uint8Array(await request.arrayBuffer());
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) bytes.set(chunk, offset), offset += chunk.length;
  return bytes;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw badRequest("The request body is not valid UTF-8", "invalid_json");
  }
}
