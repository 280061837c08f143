/** The file in a locked folder that the lock is taken on. */
export const LOCK_FILE = "gateway.lock";

// Long enough for the lock of a process that is just exiting to be let go, short enough not to
// keep a misconfigured second process waiting.
const WAIT_MS = 2000;

/**
 * Takes the exclusive lock of `folder` (an advisory lock on `<folder>/gateway.lock`, let go by
 * the operating system when the process ends, however it ends) and holds it for the process's
 * life; rejects when another process holds it. One process per folder: two sharing a journal or
 * an embedded database would each spend the same balance and replay each other's jobs.
 */
export async function lockFolder(folder: string): Promise<Deno.FsFile> {
  await Deno.mkdir(folder, { recursive: true });
  const path = `${folder}/${LOCK_FILE}`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), WAIT_MS));
  const locked = await Promise.race([file.lock(true).then(() => true), waited]);
  clearTimeout(timer);
  if (!locked) {
    const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new Error(
      `Cannot use ${folder} as another gateway process${
        holder ? ` (pid ${holder})` : ""
      } holds it: give each process its own DATA_DIR and QUEUE_SPOOL_DIR`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
}
