/** A vector as OpenAI's `encoding_format: "base64"` gives it: little-endian float32s, base64. */
export function float32Base64(vector: number[]): string {
  const bytes = new DataView(new ArrayBuffer(vector.length * 4));
  vector.forEach((value, index) => bytes.setFloat32(index * 4, value, true));
  return new Uint8Array(bytes.buffer).toBase64();
}
