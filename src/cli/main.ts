import { SideloadError, exitStatusOf, oneLine, toErrorInfo, type RunState } from "../errors.js";
import { nearest } from "../nearest.js";
import { refuseSecretFromTerminal } from "./args.js";
import { redact } from "../redact.js";
import { releaseBuild } from "../release-build.js";
import { exitStatusOfResult, type Command, type CommandResult } from "./results.js";
import { createTerminal, interruptedStatus, type Terminal } from "./terminal.js";

export { createTerminal };

/**
 * The command table. Each entry is loaded only when used, so that `inspect` never loads the
 * SSH, Docker or prompt libraries and starts as fast as a bare Node process allows. A command
 * returns its result; its exit status is the table in results.ts.
 */
const commands: Record<string, () => Promise<Command>> = {
  inspect: () => import("./commands/inspect.js"),
  "check-registry": () => import("./commands/check-registry.js"),
  pull: () => import("./commands/pull.js"),
  verify: () => import("./commands/verify.js"),
  doctor: () => import("./commands/doctor.js"),
  proxies: () => import("./commands/proxies.js"),
  prune: () => import("./commands/prune.js"),
  install: () => import("./commands/install.js"),
};

/** The commands of the table, in the order `--help` lists them (the docs test walks them). */
export const commandNames: readonly string[] = Object.keys(commands);

const usage = `Usage: mp-sideload <command> [options]
       mp-sideload          (in a terminal: a wizard that asks for everything, then shows the command)

Commands:
  inspect <pak> [--json] [--default-registry HOST]   show the adapter image references of a pak
  check-registry <pak> [--json] [credentials]        check from here that each image can be pulled
  pull <pak> (--proxy HOST | --inventory FILE) ...   pull each adapter image onto cloud proxies
  verify <pak> (--proxy HOST | --inventory FILE) ... check that every proxy has the exact images
  doctor (--proxy HOST | --inventory FILE) [--pak P] check that every proxy is ready; changes nothing
  proxies --ops URL [--json] [--pak P]               list the cloud proxies VCF Operations knows
  prune <pak> (--proxy HOST | --inventory FILE) ...  remove old images of the paks' repositories
  install <pak> --ops URL [--collector-group NAME]   pull onto the groups' proxies, then install the pak

Run 'mp-sideload <command> --help' for a command's options.
Exit status: 0 ok, 1 a proxy failed or lacks the image, 2 usage or input error,
130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP.`;

/**
 * Run the command line; returns the exit status. The one place that turns a command's result,
 * or the error that ended it, into the exit status and the error's output.
 */
export async function main(argv: string[], terminal: Terminal = createTerminal()): Promise<number> {
  const given = optionsOf(argv);
  const debug = given.includes("--debug");
  const [name, ...rest] = argv;
  // With --json, stdout carries one document whatever happens: the command's, or the error's.
  let wroteOut = false;
  const watched: Terminal = {
    ...terminal,
    out: (text) => {
      wroteOut = true;
      terminal.out(text);
    },
  };
  const state: RunState = { proxiesChanged: false };
  try {
    return exitStatusOfResult(await runCommand(name, rest, watched, state), terminal.signal);
  } catch (error) {
    reportFatal(error, terminal, debug);
    if (given.includes("--json") && !wroteOut) terminal.out(errorDocument(name, error));
    return interruptedStatus(terminal.signal) ?? exitStatusOf(error, state);
  }
}

async function runCommand(
  name: string | undefined,
  rest: string[],
  terminal: Terminal,
  state: RunState,
): Promise<CommandResult> {
  if (name === undefined && terminal.interactive) {
    const { runWizard } = await import("./wizard.js");
    return await runWizard({ terminal, state });
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    terminal.out(`${usage}\n`);
    return name === undefined ? { kind: "usage" } : { kind: "shown" };
  }
  if (name === "--version" || name === "-V") {
    terminal.out(`${await version()}\n`);
    return { kind: "shown" };
  }
  // hasOwn: a name such as "constructor" must not find Object.prototype's.
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    const guess = name.startsWith("-") ? undefined : nearest(name, commandNames);
    throw new SideloadError("USAGE", `unknown command ${JSON.stringify(name)}`, {
      hint: `${guess === undefined ? "" : `did you mean ${guess}? `}run 'mp-sideload --help' for the list of commands`,
    });
  }
  refuseSecretFromTerminal(rest, terminal);
  const command = await load();
  // A signal that arrived while a command could not stop early (reading a pak, say) still
  // ends the run as interrupted, with 128 + the signal's number (exitStatusOfResult).
  return await command.run({ argv: rest, terminal, state });
}

/** The arguments before a `--` (after it, everything is a positional). */
function optionsOf(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf("--");
  return end === -1 ? argv : argv.slice(0, end);
}

/** The `--json` document of a run that ended in an error: `{"command","error":{"code","message","hint"}}`. */
export function errorDocument(command: string | undefined, error: unknown): string {
  return `${JSON.stringify({ command: command ?? null, error: toErrorInfo(error) }, null, 2)}\n`;
}

/**
 * Print an error that ended the whole run: one line, a hint, a stack only with --debug. Returns
 * its exit status for a run that changed no proxy (`main` knows whether one was).
 */
export function reportFatal(error: unknown, terminal: Terminal, debug: boolean): number {
  if (error instanceof SideloadError) {
    terminal.err(`mp-sideload: ${error.code}: ${redact(oneLine(error.message, 1000))}\n`);
    if (error.hint) terminal.err(`  hint: ${redact(error.hint)}\n`);
    if (debug && error.stack) terminal.err(`${redact(stackOf(error))}\n`);
    return exitStatusOf(error);
  }
  const message = error instanceof Error ? error.message : String(error);
  terminal.err(`mp-sideload: INTERNAL: ${redact(oneLine(message, 1000))}\n`);
  terminal.err(
    debug && error instanceof Error && error.stack
      ? `${redact(stackOf(error))}\n`
      : "  hint: this is a bug in mp-sideload; run again with --debug and report the output\n",
  );
  return exitStatusOf(error);
}

function stackOf(error: Error): string {
  let text = error.stack ?? "";
  let cause: unknown = error.cause;
  while (cause instanceof Error) {
    text += `\ncaused by: ${cause.stack ?? cause.message}`;
    cause = cause.cause;
  }
  return text;
}

async function version(): Promise<string> {
  // The release has no package.json beside it: esbuild stamped the version and commit in.
  if (releaseBuild) return `${releaseBuild.version} (commit ${releaseBuild.commit})`;
  const { readFile } = await import("node:fs/promises");
  const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
