/**
 * `deno task compile [--target <triple>] [--output <file>]`: one executable of the gateway with
 * its permission set (`gateway` in deno.json) baked in, by default `dist/gateway` for this
 * machine or `dist/gateway-<triple>` for another target.
 *
 * `deno compile` fetches Deno's runtime (`denort`) for the target from dl.deno.land unless
 * `DENORT_BIN` names one; where that server is unreachable its error says little, so this
 * script adds what to do.
 */
const ROOT = new URL("../../", import.meta.url);
const DENO_VERSION = Deno.version.deno;

/** The targets `deno compile --target` accepts that the release builds. */
export const RELEASE_TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

const USAGE = `usage: deno task compile [--target <${
  RELEASE_TARGETS.join("|")
}>] [--output <file>]`;

function parseArgs(args: string[]): { target?: string; output?: string } | string {
  const options: { target?: string; output?: string } = {};
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if ((flag !== "--target" && flag !== "--output") || value === undefined) {
      return `compile: unexpected argument '${flag}'; ${USAGE}`;
    }
    options[flag === "--target" ? "target" : "output"] = value;
  }
  return options;
}

/** What went wrong in words an operator can act on, when the runtime could not be had. */
function runtimeHint(stderr: string, target: string): string | undefined {
  const denortBin = Deno.env.get("DENORT_BIN");
  const archive = `https://dl.deno.land/release/v${DENO_VERSION}/denort-${target}.zip`;
  if (denortBin && /denort/i.test(stderr)) {
    return [
      `compile: DENORT_BIN is set to '${denortBin}', which is not a usable denort binary.`,
      `Point DENORT_BIN at the denort of Deno ${DENO_VERSION} for ${target}, unzipped from`,
      `  ${archive}`,
    ].join("\n");
  }
  if (/dl\.deno\.land|Setting up base binary|error sending request/i.test(stderr)) {
    return [
      `compile: deno compile could not download Deno's runtime (denort) for ${target}.`,
      `Where dl.deno.land is unreachable, fetch this archive elsewhere, unzip it, and run`,
      `  DENORT_BIN=/path/to/denort deno task compile${
        target === Deno.build.target ? "" : ` --target ${target}`
      }`,
      `  archive: ${archive}`,
      "Or ship the bundle instead (deno task bundle), which needs only Deno to run.",
    ].join("\n");
  }
  return undefined;
}

async function main(): Promise<number> {
  const options = parseArgs(Deno.args);
  if (typeof options === "string") {
    console.error(options);
    return 2;
  }
  const target = options.target ?? Deno.build.target;
  const output = options.output ??
    (options.target ? `dist/gateway-${options.target}` : "dist/gateway");
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "-P=gateway",
      // deno.json sets it for tasks; spelled out so the binary carries it whatever the config.
      "--unstable-no-legacy-abort",
      // The lock file also holds the tests' packages (playwright-core, yaml): leave them out.
      "--exclude-unused-npm",
      ...(options.target ? ["--target", options.target] : []),
      "--output",
      output,
      "main.ts",
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  await Deno.stderr.write(result.stderr);
  if (result.success) return 0;
  const hint = runtimeHint(stderr, target);
  if (hint) console.error(`\n${hint}`);
  return result.code || 1;
}

if (import.meta.main) Deno.exit(await main());
