/** A successful answer as recorded for replays: what the client received, byte for byte. */
export interface RecordedAnswer {
  status: number;
  headers: Array<[string, string]>;
  /** The whole body; for a stream, every event the client received, in order. */
  body: Uint8Array<ArrayBuffer>;
  /** What served the first request, for the replay's log line and audit record. */
  model?: string;
  provider?: string;
  deployment?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;

/** One line of JSON (status, headers, what served it), a newline, then the body's bytes. */
export function encodeAnswer(answer: RecordedAnswer): Uint8Array {
  const { body, ...head } = answer;
  const line = encoder.encode(`${JSON.stringify(head)}\n`);
  const bytes = new Uint8Array(line.length + body.length);
  bytes.set(line);
  bytes.set(body, line.length);
  return bytes;
}

/** The answer {@linkcode encodeAnswer} wrote; throws a TypeError on anything else. */
export function decodeAnswer(bytes: Uint8Array): RecordedAnswer {
  const end = bytes.indexOf(NEWLINE);
  if (end < 0) throw new TypeError("Cannot decode the recorded answer as it has no head line");
  const head: unknown = JSON.parse(decoder.decode(bytes.subarray(0, end)));
  if (!isHead(head)) throw new TypeError("Cannot decode the recorded answer as its head is wrong");
  return { ...head, body: bytes.slice(end + 1) };
}

function isHead(value: unknown): value is Omit<RecordedAnswer, "body"> {
  if (typeof value !== "object" || value === null) return false;
  const head = value as Record<string, unknown>;
  return Number.isInteger(head.status) && Array.isArray(head.headers) &&
    head.headers.every((pair) =>
      Array.isArray(pair) && pair.length === 2 && pair.every((part) => typeof part === "string")
    ) &&
    ["model", "provider", "deployment"].every((name) =>
      head[name] === undefined || typeof head[name] === "string"
    );
}
