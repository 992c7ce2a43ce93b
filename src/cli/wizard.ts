/**
 * `mp-sideload` with no arguments, in a terminal: the answers first (the pak, the proxies, with
 * proxies from VCF Operations "install now?", and whether a proxy that cannot reach the registry
 * gets the image through this machine: `--relay auto`), then exactly the pipeline of `pull`
 * (`sideload`) or of `install`, with the wizard's front (the registry checked, the host keys, the
 * plan, "now?"), then the command line that repeats it, derived from the inputs
 * the run was given, so that the wizard and its closing command cannot differ (after a no to the
 * relay question, also the proxies that could not reach the registry, and how the relay would).
 */
import type { RegistryPreflight } from "../registry/preflight.js";
import { sideload, type SideloadOutput } from "./commands/sideload-command.js";
import { equivalentCommand, relayAdvice } from "./closing-command.js";
import { renderPakHuman } from "./render/pak.js";
import type { CommandContext, CommandResult } from "./results.js";
import { askPaks, askRelay, askTargets, inputsOfAnswers } from "./wizard-answers.js";
import { spinnerFor, wizardFront } from "./wizard-front.js";
import { recall, remember } from "./wizard-state.js";

export { validatePakPath, validateProxyList, validateRegistry } from "./wizard-folder.js";

/** What the wizard's run reports: the human report, as `pull` without `--json` does. */
const output: SideloadOutput = { json: false, dryRun: false, verbose: false, yes: false, debug: false };

/** Run the wizard; returns what came of it, as `pull` does. */
export async function runWizard(
  { terminal, state }: Omit<CommandContext, "argv">,
  cwd = process.cwd(),
): Promise<CommandResult> {
  const ask = (await import("./prompts.js")).prompts;
  // 1. The pak (or several), and what was found in it.
  const paks = await askPaks(cwd, ask);
  terminal.out("\n");
  for (const pak of paks.read.paks) terminal.out(renderPakHuman(pak));
  // 2. The proxies.
  const last = await recall(terminal.env);
  const targets = await askTargets(cwd, last.inventory, paks.read.images, ask, terminal);
  // From VCF Operations, the pack can be installed there too: asked now, with the other answers.
  const install = targets.ops !== undefined && (await ask.installNow());
  const relayed = await askRelay(paks.read.images, last.relay, ask);
  const relay = relayed ? ("auto" as const) : undefined;
  const answers = { paks: paks.paks, defaultRegistry: paks.defaultRegistry, targets, install, relay };
  const inputs = inputsOfAnswers(answers);

  // 3. The pipeline of `pull` (or `install`'s, which runs it first), from the same inputs.
  const registries: RegistryPreflight[] = [];
  const front = wizardFront(await spinnerFor(terminal), registries);
  const context = { terminal, state, credentials: {}, front };
  const result = inputs.install
    ? await (await import("./commands/install.js")).install(inputs, output, context)
    : await sideload(inputs, output, context);
  if (result.kind !== "sideloaded" && result.kind !== "installed") return result;

  // 4. The command that repeats it.
  terminal.out("\n");
  for (const line of equivalentCommand(result.inputs, registries)) terminal.out(`${line}\n`);
  if (relayed === false) {
    const { report } = result.kind === "installed" ? result.result.sideload : result.result;
    for (const line of relayAdvice(report.proxies, registries)) terminal.out(`\n${line}\n`);
  }
  await remember(terminal.env, { inventory: result.inputs.targets.inventories[0], relay: relayed });
  return result;
}
