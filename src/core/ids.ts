const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** A random identifier `prefix_` followed by `length` characters of [0-9a-z]. */
export function randomId(prefix: string, length = 20): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte % 36];
  return `${prefix}_${id}`;
}
