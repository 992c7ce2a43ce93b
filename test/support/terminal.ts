import type { Terminal } from "../../src/cli/terminal.js";

/** A terminal that records what a command writes; non-interactive, like CI. */
export function captureTerminal(
  options: { env?: NodeJS.ProcessEnv; stdin?: string; stdinIsTerminal?: boolean } = {},
) {
  const out: string[] = [];
  const err: string[] = [];
  const terminal: Terminal = {
    out: (text) => void out.push(text),
    err: (text) => void err.push(text),
    interactive: false,
    color: false,
    stdinIsTerminal: options.stdinIsTerminal ?? false,
    env: options.env ?? {},
    readStdin: () => Promise.resolve(options.stdin ?? ""),
    signal: new AbortController().signal,
  };
  return {
    terminal,
    stdout: () => out.join(""),
    stderr: () => err.join(""),
  };
}
