import type { Terminal } from "../terminal.js";
import { runSideloadCommand } from "./sideload-command.js";

export function run(argv: string[], terminal: Terminal): Promise<number> {
  return runSideloadCommand("pull", argv, terminal);
}
