import type { ModelInfo } from "../core/mod.ts";

/** Model list pages are followed this many times at most. */
const MAX_MODEL_PAGES = 10;

/** One page of an upstream's model list: its models, and the cursor of the next page if any. */
export interface ModelPage {
  models: ModelInfo[];
  next: string | undefined;
}

/**
 * An upstream's model list, its pages followed from the first (`read` given no cursor) until
 * one names no next page, and at most {@linkcode MAX_MODEL_PAGES} of them.
 */
export async function followModelPages(
  read: (cursor: string | undefined) => Promise<ModelPage>,
): Promise<ModelInfo[]> {
  const models: ModelInfo[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_MODEL_PAGES; page++) {
    const { models: more, next } = await read(cursor);
    models.push(...more);
    if (!next) break;
    cursor = next;
  }
  return models;
}
