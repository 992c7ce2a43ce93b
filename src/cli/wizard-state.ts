/**
 * The wizard's memory between runs: the last inventory used, offered first next time, and the
 * last answer to the relay question, its default next time.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { homeDir, writeFileAtomic } from "../files.js";

/** What the wizard remembers. */
export interface WizardMemory {
  inventory?: string;
  relay?: boolean;
}

function stateFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME || join(homeDir(env), ".local", "state");
  return join(base, "mp-sideload", "wizard.json");
}

/** What is remembered: each field only when the file holds it with its type. */
export async function recall(env: NodeJS.ProcessEnv): Promise<WizardMemory> {
  try {
    const state = JSON.parse(await readFile(stateFile(env), "utf8")) as Record<string, unknown>;
    return {
      ...(typeof state.inventory === "string" ? { inventory: state.inventory } : {}),
      ...(typeof state.relay === "boolean" ? { relay: state.relay } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * Remember this run: its inventory (a run without one keeps the last) and its relay answer (a
 * run not asked keeps the last). A failure to write is no failure of the run.
 */
export async function remember(
  env: NodeJS.ProcessEnv,
  state: { inventory?: string | undefined; relay?: boolean | undefined },
): Promise<void> {
  const last = await recall(env);
  const inventory = state.inventory === undefined ? last.inventory : resolve(state.inventory);
  const relay = state.relay ?? last.relay;
  if (inventory === undefined && relay === undefined) return;
  const file = stateFile(env);
  try {
    await mkdir(join(file, ".."), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, JSON.stringify({ inventory, relay }), { mode: 0o600, what: "wizard state" });
  } catch {
    // a memory, not a requirement
  }
}
