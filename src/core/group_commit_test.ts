import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { GroupCommit } from "./group_commit.ts";

/** Lets the batch of the calls made so far start. */
const batchStarts = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("a lone call goes at once, and calls arriving meanwhile share the next batch", async () => {
  const batches: number[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const group = new GroupCommit<number, number>({
    many: (items) => {
      batches.push(items);
      return Promise.resolve(items.map((x) => x * 10));
    },
    one: async (item) => {
      batches.push([item]);
      if (item === 1) await gate;
      return item * 10;
    },
  });
  const first = group.run(1);
  await batchStarts();
  const rest = [group.run(2), group.run(3), group.run(4)];
  release();
  assertEquals(await Promise.all([first, ...rest]), [10, 20, 30, 40]);
  assertEquals(batches, [[1], [2, 3, 4]]);
});

Deno.test("when a batch fails, each item runs alone and only the bad one fails", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const group = new GroupCommit<number, number>({
    many: () => Promise.reject(new Error("one item is bad")),
    one: async (item) => {
      if (item === 0) await gate;
      if (item === 3) throw new Error("bad item");
      return item;
    },
  });
  const first = group.run(0);
  await batchStarts();
  const others = [group.run(1), group.run(2), group.run(3)];
  release();
  assertEquals(await first, 0);
  assertEquals(await others[0], 1);
  assertEquals(await others[1], 2);
  await assertRejects(() => others[2]);
});

Deno.test("without splitting, a failed batch fails each of its items with its error", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let singles = 0;
  const group = new GroupCommit<number, number>({
    many: () => Promise.reject(new Error("the way there is down")),
    one: async (item) => {
      singles++;
      if (item === 0) await gate;
      return item;
    },
    splitFailed: false,
  });
  const first = group.run(0);
  await batchStarts();
  const others = [group.run(1), group.run(2)];
  release();
  assertEquals(await first, 0);
  for (const other of others) {
    assertEquals((await assertRejects(() => other)).message, "the way there is down");
  }
  assertEquals(singles, 1);
});

Deno.test("calls made in one synchronous run share the first batch", async () => {
  const batches: number[][] = [];
  const group = new GroupCommit<number, number>({
    many: (items) => {
      batches.push(items);
      return Promise.resolve(items);
    },
    one: (item) => {
      batches.push([item]);
      return Promise.resolve(item);
    },
  });
  assertEquals(await Promise.all([1, 2, 3].map((item) => group.run(item))), [1, 2, 3]);
  assertEquals(batches, [[1, 2, 3]]);
});

Deno.test("batches never exceed their bound", async () => {
  const sizes: number[] = [];
  const group = new GroupCommit<number, number>({
    many: (items) => (sizes.push(items.length), Promise.resolve(items)),
    one: (item) => (sizes.push(1), Promise.resolve(item)),
    maxBatch: 3,
  });
  const calls = Array.from({ length: 8 }, (_, i) => group.run(i));
  assertEquals(await Promise.all(calls), [0, 1, 2, 3, 4, 5, 6, 7]);
  // The eight go as 3, 3, and a last two.
  assertEquals(sizes, [3, 3, 2]);
});

Deno.test("with gather, calls of one event-loop turn share a batch even with a synchronous store", async () => {
  const batches: number[][] = [];
  const group = new GroupCommit<number, number>({
    many: (items) => (batches.push(items), Promise.resolve(items)),
    one: (item) => (batches.push([item]), Promise.resolve(item)),
    gather: true,
  });
  assertEquals(await Promise.all([group.run(1), group.run(2), group.run(3)]), [1, 2, 3]);
  assertEquals(batches, [[1, 2, 3]]);
});
