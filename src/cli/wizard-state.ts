/** The wizard's memory between runs: the last inventory used, offered first next time. */
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { homeDir, writeFileAtomic } from "../files.js";

function stateFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME || join(homeDir(env), ".local", "state");
  return join(base, "mp-sideload", "wizard.json");
}

/** The last inventory used, when one is remembered. */
export async function recall(env: NodeJS.ProcessEnv): Promise<{ inventory?: string }> {
  try {
    const state = JSON.parse(await readFile(stateFile(env), "utf8")) as { inventory?: unknown };
    return typeof state.inventory === "string" ? { inventory: state.inventory } : {};
  } catch {
    return {};
  }
}

/** Remember the inventory of this run; a failure to write is no failure of the run. */
export async function remember(
  env: NodeJS.ProcessEnv,
  state: { inventory?: string | undefined },
): Promise<void> {
  if (state.inventory === undefined) return;
  const file = stateFile(env);
  try {
    await mkdir(join(file, ".."), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, JSON.stringify({ inventory: resolve(state.inventory) }), {
      mode: 0o600,
      what: "wizard state",
    });
  } catch {
    // a memory, not a requirement
  }
}
