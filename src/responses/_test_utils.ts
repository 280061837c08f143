/**
 * Reads the translation fixtures of `testdata/` and makes the ids the gateway generates
 * comparable: each becomes `<prefix:n>`, numbered by first appearance, so that a fixture still
 * checks that one item keeps its id from event to event.
 */
const FIXTURES = new URL("./testdata/", import.meta.url);

const GENERATED_ID = /^(resp|msg|fc)_[0-9a-z]{40}$/;

/** One fixture file, parsed. */
export async function readFixture<T>(name: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));
}

/** The names of the fixture files that start with `prefix`. */
export function fixtureNames(prefix: string): string[] {
  return [...Deno.readDirSync(FIXTURES)].map((entry) => entry.name)
    .filter((name) => name.startsWith(prefix)).sort();
}

/** `value` with each generated id replaced by its placeholder. */
export function withPlaceholderIds<T>(value: T): T {
  const seen = new Map<string, string>();
  const counts = new Map<string, number>();
  return JSON.parse(JSON.stringify(value), (_key, item) => {
    if (typeof item !== "string") return item;
    const match = GENERATED_ID.exec(item);
    if (!match) return item;
    let placeholder = seen.get(item);
    if (!placeholder) {
      const n = (counts.get(match[1]) ?? 0) + 1;
      counts.set(match[1], n);
      placeholder = `<${match[1]}:${n}>`;
      seen.set(item, placeholder);
    }
    return placeholder;
  });
}

/** The parsed events of a Responses SSE text. */
export function parseEvents(text: string): Array<Record<string, unknown>> {
  return text.split("\n\n").filter((block) => block.trim()).map((block) => {
    const lines = block.split("\n");
    const event = lines.find((line) => line.startsWith("event: "))?.slice(7);
    const data = JSON.parse(lines.find((line) => line.startsWith("data: "))!.slice(6));
    if (event !== data.type) throw new Error(`The event line says ${event}, its data ${data.type}`);
    return data;
  });
}

/** Chat chunks (objects, or `[DONE]`) as the SSE text an upstream sends. */
export function chatSse(chunks: readonly unknown[]): string {
  return chunks.map((chunk) =>
    `data: ${typeof chunk === "string" ? chunk : JSON.stringify(chunk)}\n\n`
  )
    .join("");
}
