import type { CommandContext, CommandResult } from "../results.js";
import { runSideloadCommand } from "./sideload-command.js";

/** `mp-sideload pull`: see sideload-command.ts. */
export function run(context: CommandContext): Promise<CommandResult> {
  return runSideloadCommand("pull", context);
}
