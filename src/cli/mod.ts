/**
 * @module
 * The program's commands: serving (no subcommand) and `healthcheck`.
 */
import { healthcheck } from "./healthcheck.ts";
import { serveGateway } from "./serve.ts";

export { healthcheck, type HealthcheckOptions } from "./healthcheck.ts";
export { serveGateway } from "./serve.ts";

/**
 * Runs the command `args` name and resolves with its exit code; `entry` is the program's entry
 * module (see {@linkcode serveGateway}).
 */
export async function runCommand(args: string[], entry: URL): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined) return await serveGateway(entry);
  if (command === "healthcheck") return await healthcheck({ args: rest, env: Deno.env.toObject() });
  // A mistyped subcommand must not start a second server (say, from a container's HEALTHCHECK).
  console.error(`gateway: unknown command '${command}'; usage: gateway [healthcheck [--live]]`);
  return 2;
}
