/**
 * @module
 * Assertions for the tests, on top of `node:assert` (JSR's `@std/assert` cannot be fetched here).
 */
import nodeAssert from "node:assert/strict";

/** Asserts that `actual` deeply equals `expected`. */
export function assertEquals<T>(actual: unknown, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts that `actual` does not deeply equal `expected`. */
export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Asserts that `condition` is truthy. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  nodeAssert.ok(
    text.includes(part),
    message ?? `expected ${JSON.stringify(text.slice(0, 500))} to include ${JSON.stringify(part)}`,
  );
}

/** Asserts that `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(text, pattern, message);
}

/** Asserts that `fn` throws; returns the error for further checks. */
export function assertThrows(fn: () => unknown, message?: string): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new nodeAssert.AssertionError({ message: message ?? "expected the function to throw" });
}

/** Asserts that `fn` rejects; returns the error for further checks. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  message?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new nodeAssert.AssertionError({ message: message ?? "expected the promise to reject" });
}
