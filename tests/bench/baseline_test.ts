import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { checkoutBaseline, removeBaseline } from "./_baseline.ts";

async function git(cwd: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", {
    args: ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) throw new Error(`git ${args.join(" ")}: ${decoder.decode(output.stderr)}`);
  return decoder.decode(output.stdout).trim();
}

async function assertGone(path: string): Promise<void> {
  const error = await assertRejects(() => Deno.stat(path), `${path} should not exist`);
  assert(error instanceof Deno.errors.NotFound, String(error));
}

/** A throwaway repository with two commits: the first has a gateway-shaped tree, the second not. */
async function repository(): Promise<{ dir: string; first: string; second: string }> {
  const dir = await Deno.makeTempDir({ prefix: "gateway-bench-baseline-test-" });
  await git(dir, "init", "--quiet", "--initial-branch=main");
  await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
  await Deno.writeTextFile(`${dir}/main.ts`, 'console.log("foundation");\n');
  await git(dir, "add", ".");
  await git(dir, "commit", "--quiet", "-m", "The foundation");
  const first = await git(dir, "rev-parse", "HEAD");
  await git(dir, "rm", "--quiet", "main.ts");
  await git(dir, "commit", "--quiet", "-m", "Without main.ts");
  return { dir, first, second: await git(dir, "rev-parse", "HEAD") };
}

Deno.test("the baseline is checked out detached into a temporary worktree and removed", async () => {
  const repo = await repository();
  try {
    const path = `${repo.dir}-tree`;
    const tree = await checkoutBaseline(repo.dir, repo.first.slice(0, 9), path);
    assertEquals(tree, {
      ref: repo.first.slice(0, 9),
      commit: repo.first.slice(0, 7),
      subject: "The foundation",
      root: `${path}/`,
    });
    assertEquals(await git(path, "rev-parse", "HEAD"), repo.first);
    assertEquals(await git(path, "branch", "--show-current"), "");
    await removeBaseline(repo.dir, path);
    await assertGone(path);
    assertEquals((await git(repo.dir, "worktree", "list")).split("\n").length, 1);
    await removeBaseline(repo.dir, path);
  } finally {
    await Deno.remove(repo.dir, { recursive: true });
  }
});

Deno.test("a missing ref, or a tree without main.ts, fails with advice to pass none", async () => {
  const repo = await repository();
  try {
    const missing = await assertRejects(
      () => checkoutBaseline(repo.dir, "0123abc", `${repo.dir}-missing`),
    );
    assertMatch(
      missing.message,
      /^Cannot benchmark against the baseline '0123abc' as git cannot find that commit in .*--baseline=none/,
    );
    const path = `${repo.dir}-second`;
    try {
      const bare = await assertRejects(() => checkoutBaseline(repo.dir, repo.second, path));
      assertMatch(
        bare.message,
        /its tree has no main\.ts: pass another --baseline or --baseline=none/,
      );
    } finally {
      await removeBaseline(repo.dir, path);
    }
    await assertGone(path);
  } finally {
    await Deno.remove(repo.dir, { recursive: true });
  }
});

Deno.test("outside a git repository the baseline fails with advice to pass none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gateway-bench-no-git-" });
  try {
    const error = await assertRejects(() => checkoutBaseline(dir, "751656d", `${dir}/tree`));
    assertMatch(
      error.message,
      /git cannot find that commit in .*not a git repository.*--baseline=none/s,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
