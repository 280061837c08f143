/**
 * @module
 * Reading the recorded translations of `testdata/` in the providers' fixture tests.
 */
import { assert, assertStringIncludes } from "../../tests/assert.ts";

/** Every fixture of a folder whose name starts with `prefix`, by name, parsed. */
export async function readFixtures<T>(folder: URL, prefix: string): Promise<Array<[string, T]>> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && entry.name.startsWith(prefix) && entry.name.endsWith(".json")) {
      names.push(entry.name);
    }
  }
  names.sort();
  assert(names.length > 0, `no fixtures named ${prefix}*`);
  return await Promise.all(
    names.map(async (name): Promise<[string, T]> => [
      name,
      JSON.parse(await Deno.readTextFile(new URL(name, folder))),
    ]),
  );
}

/**
 * Parses an OpenAI SSE text into its events' data (`[DONE]` as a string), checking that every
 * chunk has the same `created`, whole seconds, and dropping it; with `madeIdPrefix`, the stream's
 * id is one the gateway made, checked the same way and dropped too.
 */
export function parseChunks(text: string, madeIdPrefix?: string): unknown[] {
  assert(text.endsWith("\n\n"), "the stream ends with a complete event");
  const ids = new Set<unknown>();
  const created = new Set<unknown>();
  const chunks = text.slice(0, -2).split("\n\n").map((event) => {
    assert(event.startsWith("data: "), `an event of one data line: ${event}`);
    const data = event.slice("data: ".length);
    if (data === "[DONE]") return data;
    const { created: stamp, ...chunk } = JSON.parse(data);
    if (stamp !== undefined) created.add(stamp);
    if (madeIdPrefix === undefined || chunk.id === undefined) return chunk;
    const { id, ...rest } = chunk;
    ids.add(id);
    return rest;
  });
  assert(created.size <= 1, "every chunk of a stream has the same created");
  for (const stamp of created) assert(Number.isInteger(stamp), "created is whole seconds");
  assert(ids.size <= 1, "every chunk of a stream has the same id");
  for (const id of ids) assertStringIncludes(String(id), madeIdPrefix ?? "");
  return chunks;
}
