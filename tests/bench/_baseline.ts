/**
 * @module
 * The same-run baseline: an older commit of the gateway checked out in a temporary detached git
 * worktree, with its dependencies cached, so the benchmark can start it beside the current one.
 */

/** A commit of the gateway checked out for the benchmark. */
export interface BaselineTree {
  /** The ref as given (`751656d`, a tag, a branch). */
  ref: string;
  /** The commit it names, abbreviated, and that commit's subject line. */
  commit: string;
  subject: string;
  /** The worktree's path, with a trailing slash, as `startGateway` takes it. */
  root: string;
}

const GIT_TIMEOUT_MS = 60_000;
const CACHE_TIMEOUT_MS = 180_000;

/**
 * Checks `ref` out of the repository at `repoRoot` into `path` (which must not exist) and caches
 * its dependencies. Throws a message that names `--baseline=none` when git or the ref is missing.
 * Call `removeBaseline(repoRoot, path)` afterwards, also when this throws.
 */
export async function checkoutBaseline(
  repoRoot: string,
  ref: string,
  path: string,
): Promise<BaselineTree> {
  const commit = await resolveCommit(repoRoot, ref);
  const subject = (await git(repoRoot, ["log", "-1", "--format=%s", commit])).stdout.trim();
  const added = await git(repoRoot, ["worktree", "add", "--detach", path, commit]);
  if (!added.success) {
    throw new Error(`Cannot check out the baseline '${ref}' into ${path}: ${added.stderr.trim()}`);
  }
  const root = path.endsWith("/") ? path : `${path}/`;
  for (const file of ["main.ts", "deno.json"]) {
    if (!(await exists(`${root}${file}`))) {
      throw new Error(
        `Cannot benchmark against the baseline '${ref}' as its tree has no ${file}: pass ` +
          "another --baseline or --baseline=none",
      );
    }
  }
  await cacheDependencies(ref, root);
  return { ref, commit: commit.slice(0, 7), subject, root };
}

/** Removes the worktree at `path` if there is one; warns, never throws, when git cannot. */
export async function removeBaseline(repoRoot: string, path: string): Promise<void> {
  if (!(await exists(path))) return;
  const removed = await git(repoRoot, ["worktree", "remove", "--force", path]).catch((error) => ({
    success: false,
    stdout: "",
    stderr: String(error),
  }));
  if (!removed.success) {
    console.error(
      `bench: could not remove the baseline worktree ${path} (${removed.stderr.trim()}); ` +
        `remove it with 'git worktree remove --force ${path}'`,
    );
  }
}

async function resolveCommit(repoRoot: string, ref: string): Promise<string> {
  const advice = "fetch it (a shallow clone lacks it: 'git fetch --unshallow') or pass " +
    "--baseline=none to run without the same-run baseline";
  let result: GitResult;
  try {
    result = await git(repoRoot, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "Cannot benchmark against the baseline as git is not installed or not on PATH: install " +
          "it or pass --baseline=none to run without the same-run baseline",
      );
    }
    throw error;
  }
  const commit = result.stdout.trim();
  if (result.success && /^[0-9a-f]{40,64}$/.test(commit)) return commit;
  const why = result.stderr.trim() || "no such commit";
  throw new Error(
    `Cannot benchmark against the baseline '${ref}' as git cannot find that commit in ` +
      `${repoRoot} (${why}): ${advice}`,
  );
}

/** Fetches the baseline's npm packages now, so a download does not eat the start deadline. */
async function cacheDependencies(ref: string, root: string): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--config", `${root}deno.json`, `${root}main.ts`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(CACHE_TIMEOUT_MS),
  }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-10).join("\n");
    throw new Error(
      `Cannot benchmark against the baseline '${ref}' as deno cannot fetch its dependencies ` +
        `(pass --baseline=none to run without it):\n${text}`,
    );
  }
}

interface GitResult {
  success: boolean;
  stdout: string;
  stderr: string;
}

async function git(repoRoot: string, args: string[]): Promise<GitResult> {
  const output = await new Deno.Command("git", {
    args: ["-C", repoRoot, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(GIT_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  return {
    success: output.success,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
