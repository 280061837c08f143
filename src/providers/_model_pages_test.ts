import { assertEquals } from "../../tests/assert.ts";
import { followModelPages, type ModelPage } from "./_model_pages.ts";

/** A model list of endless pages, each with one model, recording the cursors asked for. */
function pages(last: number) {
  const cursors: Array<string | undefined> = [];
  const read = (cursor: string | undefined): Promise<ModelPage> => {
    cursors.push(cursor);
    const page = cursors.length;
    const models = [{ id: `model-${page}`, object: "model" as const, created: 0, owned_by: "x" }];
    return Promise.resolve({ models, next: page < last ? `after-${page}` : undefined });
  };
  return { cursors, read };
}

Deno.test("a model list is read page by page, each asked for by the cursor the last one gave", async () => {
  const { cursors, read } = pages(3);
  const models = await followModelPages(read);
  assertEquals(cursors, [undefined, "after-1", "after-2"]);
  assertEquals(models.map((model) => model.id), ["model-1", "model-2", "model-3"]);
});

Deno.test("a model list whose pages never end is cut after ten pages", async () => {
  const { cursors, read } = pages(Infinity);
  const models = await followModelPages(read);
  assertEquals([cursors.length, models.length], [10, 10]);
});
