/** What the client needs from a response head, decoded once. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** In arrival order; `Response` joins repeated names as `Headers` does. */
  headers: [string, string][];
  /** -1 when absent or overridden by `transfer-encoding`. */
  contentLength: number;
  chunked: boolean;
  /** Whether another request may follow on the connection once this body ends. */
  keepAlive: boolean;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder();
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n\u0100-\uffff]/;
const DIGITS = /^\d{1,15}$/;
const NON_ASCII = /[\u0080-\uffff]/;
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
// Framing and persistence belong to this client, so callers' values for these are dropped.
const OWNED_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

/** The request method as `fetch` normalizes it; TypeError for what `fetch` refuses. */
export function requestMethod(init: RequestInit | undefined): string {
  const method = init?.method;
  if (method === undefined || method === "GET" || method === "POST") return method ?? "GET";
  const upper = method.toUpperCase();
  if (NORMALIZED_METHODS.has(upper)) return upper;
  if (!TOKEN.test(method) || FORBIDDEN_METHODS.has(upper)) {
    throw new TypeError(`Cannot send the request as the method is not allowed: ${method}`);
  }
  return method;
}

/** The whole request, head and body, as one buffer so it goes out in one write. */
export function encodeRequest(method: string, url: URL, init: RequestInit | undefined): Uint8Array {
  if (url.username || url.password) {
    throw new TypeError("Cannot send the request as its URL includes credentials");
  }
  const body = bodyBytes(init?.body);
  if (body && (method === "GET" || method === "HEAD")) {
    throw new TypeError(`Cannot send the request as a ${method} request cannot have a body`);
  }
  const fields = { text: "", host: url.host, hasContentType: false };
  const headers = init?.headers;
  if (headers instanceof Headers) {
    for (const [name, value] of headers) addField(fields, name, value);
  } else if (Array.isArray(headers)) {
    for (const pair of headers) {
      if (pair.length !== 2) {
        throw new TypeError("Cannot send the request as a header is not a pair");
      }
      addField(fields, pair[0], pair[1]);
    }
  } else if (headers) {
    for (const name of Object.keys(headers)) {
      addField(fields, name, (headers as Record<string, string>)[name]);
    }
  }
  let head =
    `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${fields.host}\r\n${fields.text}`;
  if (typeof init?.body === "string" && !fields.hasContentType) {
    head += "content-type: text/plain;charset=UTF-8\r\n"; // as fetch does for string bodies
  }
  if (body) head += `content-length: ${body.length}\r\n`;
  else if (method === "POST" || method === "PUT" || method === "PATCH") {
    head += "content-length: 0\r\n";
  }
  head += "\r\n";
  const out = new Uint8Array(head.length + (body?.length ?? 0));
  if (NON_ASCII.test(head)) {
    // Header values are byte strings: one byte per char, not UTF-8.
    for (let i = 0; i < head.length; i++) out[i] = head.charCodeAt(i);
  } else {
    encoder.encodeInto(head, out);
  }
  if (body) out.set(body, head.length);
  return out;
}

function addField(
  fields: { text: string; host: string; hasContentType: boolean },
  name: string,
  rawValue: string,
): void {
  const value = String(rawValue);
  // Checked here because a CR or LF in a value would let it inject headers or a request.
  if (!TOKEN.test(name)) {
    throw new TypeError(`Cannot send the request as a header name is invalid: ${name}`);
  }
  if (BAD_VALUE.test(value)) {
    throw new TypeError(`Cannot send the request as the value of header ${name} is invalid`);
  }
  const lower = name.toLowerCase();
  if (lower === "host") fields.host = value;
  else if (OWNED_HEADERS.has(lower)) return;
  else {
    if (lower === "content-type") fields.hasContentType = true;
    fields.text += `${name}: ${value}\r\n`;
  }
}

function bodyBytes(body: BodyInit | null | undefined): Uint8Array | null {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) {
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }
  throw new TypeError(
    "Cannot send the request as its body is not a string, an ArrayBuffer or an ArrayBufferView",
  );
}

/** Index of the `\r\n\r\n` that ends a head within `buf[from, end)`, or -1. */
export function findHeadEnd(buf: Uint8Array, from: number, end: number): number {
  // Looks at the terminator's last byte and skips ahead by how far the byte seen rules out
  // a match: most bytes of a head are neither CR nor LF, so most steps are 4 bytes long.
  for (let i = from + 3; i < end;) {
    const byte = buf[i];
    if (byte === 10) {
      if (buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i - 3;
      i += 2;
    } else {
      i += byte === 13 ? 1 : 4;
    }
  }
  return -1;
}

/** Parses a status line and header fields (without the final empty line); TypeError if malformed. */
export function parseHead(bytes: Uint8Array): ResponseHead {
  const lines = decodeLatin1(bytes).split("\r\n");
  const statusLine = lines[0];
  const minor = statusLine.charCodeAt(7) - 48;
  const status = threeDigits(statusLine);
  if (
    !statusLine.startsWith("HTTP/1.") || (minor !== 0 && minor !== 1) ||
    statusLine.charCodeAt(8) !== 32 || status < 100 || status > 599 ||
    (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)
  ) {
    throw new TypeError(`The upstream sent a malformed status line: ${statusLine.slice(0, 100)}`);
  }
  const headers: [string, string][] = [];
  let contentLength = -1;
  let transferEncoding = "";
  let close = false;
  let keepAliveToken = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      // Obsolete line folding: RFC 9112 lets a client replace it with a space.
      if (headers.length === 0) throw malformedHeader(line);
      headers[headers.length - 1][1] += " " + trimOws(line, 0);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw malformedHeader(line);
    const name = line.slice(0, colon);
    const value = trimOws(line, colon + 1);
    headers.push([name, value]);
    // Lengths first: most fields are none of these three, and this skips lowercasing them.
    if (name.length === 14 && name.toLowerCase() === "content-length") {
      contentLength = mergeContentLength(contentLength, value);
    } else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") {
      transferEncoding = transferEncoding ? `${transferEncoding},${value}` : value;
    } else if (name.length === 10 && name.toLowerCase() === "connection") {
      for (const token of value.toLowerCase().split(",")) {
        const trimmed = token.trim();
        if (trimmed === "close") close = true;
        else if (trimmed === "keep-alive") keepAliveToken = true;
      }
    }
  }
  let keepAlive = !close && (minor === 1 || keepAliveToken);
  let chunked = false;
  if (transferEncoding) {
    const codings = transferEncoding.toLowerCase().split(",");
    chunked = codings[codings.length - 1].trim() === "chunked";
    // RFC 9112 §6.3: transfer-encoding wins; with a content-length too, the framing is suspect.
    if (contentLength >= 0) keepAlive = false;
    contentLength = -1;
  }
  return { status, statusText: statusLine.slice(13), headers, contentLength, chunked, keepAlive };
}

function threeDigits(line: string): number {
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const digit = line.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return -1;
    status = status * 10 + digit;
  }
  return status;
}

function mergeContentLength(current: number, value: string): number {
  if (current < 0 && DIGITS.test(value)) return Number(value);
  let result = current;
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    const length = DIGITS.test(trimmed) ? Number(trimmed) : -1;
    if (length < 0 || (result >= 0 && result !== length)) {
      throw new TypeError(`The upstream sent an invalid content-length: ${value.slice(0, 100)}`);
    }
    result = length;
  }
  return result;
}

function malformedHeader(line: string): TypeError {
  return new TypeError(`The upstream sent a malformed header line: ${line.slice(0, 100)}`);
}

function trimOws(text: string, from: number): string {
  let start = from;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
  return text.slice(start, end);
}

function decodeLatin1(bytes: Uint8Array): string {
  // Heads are nearly always ASCII, where the native UTF-8 decoder is the fastest latin1 decoder.
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7f) {
      let text = "";
      for (let j = 0; j < bytes.length; j += 4096) {
        text += String.fromCharCode(...bytes.subarray(j, j + 4096));
      }
      return text;
    }
  }
  return utf8.decode(bytes);
}
