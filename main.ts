/**
 * @module
 * The gateway program: `gateway` serves (see `src/cli/serve.ts`), `gateway healthcheck [--live]`
 * asks a running one whether it is ready (or alive) instead.
 *
 * The same file is the SQLite writer's worker (`src/store/sqlite_writer.ts`), in `deno run`, the
 * bundle and the compiled executable alike; the commands are imported only when needed, so the
 * worker loads the store and nothing else.
 */
import { isSqliteWriterWorker, serveSqliteWrites } from "./src/store/sqlite_writer.ts";

if (import.meta.main) {
  if (isSqliteWriterWorker()) {
    serveSqliteWrites();
  } else {
    const { runCommand } = await import("./src/cli/mod.ts");
    Deno.exit(await runCommand(Deno.args, new URL(import.meta.url)));
  }
}
