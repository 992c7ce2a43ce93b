/**
 * What a command gives back, and the one table that turns it into the exit status of the
 * README's "Exit codes" (an error that ends a run is `exitStatusOf` in errors.ts). A command
 * returns its result; only `main` decides how the process exits.
 */
import { ExitStatus, type RunState } from "../errors.js";
import type { Pak } from "../pak/read-pak.js";
import type { RegistryPreflight } from "../registry/preflight.js";
import type { SideloadInputs } from "../resolve/inputs.js";
import type { PruneReport } from "../prune/prune.js";
import type { SideloadResult } from "../sideload/run-sideload.js";
import type { InstallResult } from "../install/run-install.js";
import type { RunningReport } from "../install/running.js";
import type { Terminal } from "./terminal.js";
import { interruptedStatus } from "./terminal.js";

/** What every command is given: its arguments, the terminal, and the run's state to keep. */
export interface CommandContext {
  argv: string[];
  terminal: Terminal;
  /** Set by the command once a proxy may have been changed: an error after that never exits 2. */
  state: RunState;
}

/** A command of the table: parses its own argv, does its work, returns what came of it. */
export interface Command {
  run(context: CommandContext): Promise<CommandResult>;
}

/** The outcome of a command, with the result it rendered. */
export type CommandResult =
  /** Help, the version, a dry run's plan, nothing left to retry: printed, nothing failed. */
  | { kind: "shown" }
  /** The usage, for `mp-sideload` with no command and no terminal to ask in. */
  | { kind: "usage" }
  /** The user said no at "go?": nothing done. */
  | { kind: "declined" }
  | { kind: "inspected"; pak: Pak }
  /** `proxies`: what VCF Operations lists. */
  | { kind: "listed" }
  /** `check-registry`: one verdict per reference. */
  | { kind: "checked"; failed: number }
  /** `pull`, `verify` and the wizard: the report, and the inputs it ran (the closing command's). */
  | {
      kind: "sideloaded";
      result: SideloadResult;
      inputs: SideloadInputs;
      /** `verify --running`: an adapter instance without a running container fails the run. */
      running?: RunningReport | undefined;
    }
  /** `install` and the wizard's "install now?": the sideloads, the gate, the install. */
  | { kind: "installed"; result: InstallResult; inputs: SideloadInputs }
  /** The wizard: every image is public, the proxies pull it themselves; nothing to sideload. */
  | { kind: "not-needed"; registries: RegistryPreflight[] }
  /** `doctor`: failed checks (warnings do not count). */
  | { kind: "doctored"; failedChecks: number }
  | { kind: "pruned"; report: PruneReport };

type StatusTable = { [K in CommandResult["kind"]]: (result: Extract<CommandResult, { kind: K }>) => number };

/** Each outcome's exit status. A new command adds its outcome here (the type demands it). */
const statusOf: StatusTable = {
  shown: () => ExitStatus.ok,
  usage: () => ExitStatus.usage,
  declined: () => ExitStatus.ok,
  inspected: () => ExitStatus.ok,
  listed: () => ExitStatus.ok,
  checked: (r) => (r.failed === 0 ? ExitStatus.ok : ExitStatus.proxyFailed),
  sideloaded: (r) =>
    sideloadReady(r.result) && (r.running?.ok ?? true) ? ExitStatus.ok : ExitStatus.proxyFailed,
  // A group not ready (nothing uploaded) and a failed install alike exit 1.
  installed: (r) => (r.result.outcome === "installed" ? ExitStatus.ok : ExitStatus.proxyFailed),
  "not-needed": () => ExitStatus.ok,
  doctored: (r) => (r.failedChecks === 0 ? ExitStatus.ok : ExitStatus.proxyFailed),
  pruned: (r) => (r.report.summary.failed === 0 ? ExitStatus.ok : ExitStatus.proxyFailed),
};

/**
 * Every proxy ok, every collector group involved covered (a group where some members lack an
 * image is not ready for its instances to move), and no `--prune` that failed.
 */
function sideloadReady(result: SideloadResult): boolean {
  const { report, coverage } = result;
  return (
    report.summary.failed === 0 &&
    (coverage?.ready ?? true) &&
    !report.proxies.some((p) => p.prune?.error !== undefined)
  );
}

/** The exit status of a command that returned `result`: interrupted first (128 + the signal). */
export function exitStatusOfResult(result: CommandResult, signal: AbortSignal): number {
  const status = (statusOf[result.kind] as (r: CommandResult) => number)(result);
  return interruptedStatus(signal) ?? status;
}
