/**
 * `deno task checksums [folder]`: writes `SHA256SUMS` in the release folder (`dist` by default)
 * for every file in it, in the format `sha256sum -c SHA256SUMS` checks.
 */

/** The name of the checksum file in the release folder. */
export const CHECKSUM_FILE = "SHA256SUMS";

/** Hashes every regular file of `dir` but the checksum file; writes it; returns its lines. */
export async function writeChecksums(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name !== CHECKSUM_FILE) names.push(entry.name);
  }
  if (names.length === 0) {
    throw new Error(
      `Cannot write ${CHECKSUM_FILE} as '${dir}' holds no artifact: run deno task bundle or compile`,
    );
  }
  names.sort();
  const lines: string[] = [];
  for (const name of names) {
    const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/${name}`));
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    // Two spaces: text mode in sha256sum's format, which every platform's tool reads.
    lines.push(`${hex}  ${name}`);
  }
  await Deno.writeTextFile(`${dir}/${CHECKSUM_FILE}`, lines.join("\n") + "\n");
  return lines;
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? "dist";
  try {
    for (const line of await writeChecksums(dir)) console.log(line);
  } catch (error) {
    console.error(`checksums: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
