import { setImmediate } from "node:timers";

/** What a {@linkcode GroupCommit} calls. */
export interface GroupCommitOptions<I, O> {
  /** Runs many items at once; may throw, and then each item is run singly (see `splitFailed`). */
  many: (items: I[]) => Promise<O[]>;
  /** Runs one item; its rejection reaches that item's caller only. */
  one: (item: I) => Promise<O>;
  /** The most items in one batch. */
  maxBatch?: number;
  /**
   * Wait for the I/O of the current event-loop turn before writing, so calls that arrive in it
   * join the batch. For synchronous stores (SQLite), whose writes block the loop: nothing else
   * can arrive while they run, so without this every call would go alone.
   */
  gather?: boolean;
  /**
   * Run the items of a failed batch singly, so that only a bad item's caller sees its error
   * (default); without, every item of the batch gets the batch's error, as when what failed is
   * the way there (a timeout) rather than an item.
   */
  splitFailed?: boolean;
}

/**
 * Group commit: calls that arrive while a batch is being written wait and go together in the
 * next one. A lone call goes at once (after the calls made beside it in the same synchronous
 * run), so a quiet gateway adds no latency, while a busy one turns many commits (fsyncs, row locks
 * held across round trips) into one.
 */
export class GroupCommit<I, O> {
  readonly #options: Required<GroupCommitOptions<I, O>>;
  #waiting: Array<{ item: I; done: PromiseWithResolvers<O> }> = [];
  #writing = false;

  constructor(options: GroupCommitOptions<I, O>) {
    this.#options = { maxBatch: 256, gather: false, splitFailed: true, ...options };
  }

  /** Runs `item` in the next batch; resolves with its own outcome. */
  run(item: I): Promise<O> {
    const done = Promise.withResolvers<O>();
    this.#waiting.push({ item, done });
    if (!this.#writing) void this.#drain();
    return done.promise;
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      // The calls made in the same synchronous run as this one (a worker starting the jobs of
      // its batch one after the other) join it: the batch is cut once that run has ended.
      await (this.#options.gather ? new Promise((resolve) => setImmediate(resolve)) : undefined);
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, this.#options.maxBatch);
        await this.#write(batch);
      }
    } finally {
      this.#writing = false;
    }
  }

  async #write(batch: Array<{ item: I; done: PromiseWithResolvers<O> }>): Promise<void> {
    if (batch.length > 1) {
      try {
        const outcomes = await this.#options.many(batch.map((entry) => entry.item));
        if (outcomes.length === batch.length) {
          batch.forEach((entry, index) => entry.done.resolve(outcomes[index]));
          return;
        }
      } catch (error) {
        if (!this.#options.splitFailed) {
          for (const entry of batch) entry.done.reject(error);
          return;
        }
        // Some item failed: each runs alone below, so only its own caller sees its error.
      }
    }
    await Promise.all(batch.map(async (entry) => {
      try {
        entry.done.resolve(await this.#options.one(entry.item));
      } catch (error) {
        entry.done.reject(error);
      }
    }));
  }
}
