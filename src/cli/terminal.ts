import { text } from "node:stream/consumers";
import { isatty } from "node:tty";
import { redact } from "../redact.js";
import { SideloadError, escapeMatches, signalExitStatus, type HandledSignal } from "../errors.js";

/** What a command may do with the outside world: the seam tests replace. */
export interface Terminal {
  /** Write to stdout (the JSON document with --json, else human output). Redacted, scrubbed. */
  out(text: string): void;
  /** Write to stderr (diagnostics, progress). Redacted, scrubbed. */
  err(text: string): void;
  /** True when prompts and spinners are allowed: both ends are terminals and CI is not set. */
  interactive: boolean;
  /** True when colour is allowed (interactive stderr, NO_COLOR unset). */
  color: boolean;
  /** True when stdin is a terminal: what a `-stdin` option would read echoes there as it is typed. */
  stdinIsTerminal?: boolean | undefined;
  env: NodeJS.ProcessEnv;
  /** Read all of stdin (for --registry-password-stdin). */
  readStdin(): Promise<string>;
  /**
   * Aborted once the user interrupts (SIGINT, SIGTERM, SIGHUP); the reason is an INTERRUPTED
   * SideloadError naming the signal (its exit status is 128 + the signal's number).
   */
  signal: AbortSignal;
}

/**
 * The last line of defence for what reaches a terminal: every control character but newline
 * and tab is written as a visible `\u001b`-style escape. Renderers already escape the untrusted
 * values they print; this catches any that slip through. Inside a JSON string the escape is
 * valid JSON for the same character, so `--json` output stays exact.
 */
export function scrubControls(text: string): string {
  return escapeMatches(text, controlsButNewlineAndTab);
}

// eslint-disable-next-line no-control-regex
const controlsButNewlineAndTab = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** The exit status for a run that ended because of `signal`'s abort, or undefined if it was not aborted. */
export function interruptedStatus(signal: AbortSignal): number | undefined {
  if (!signal.aborted) return undefined;
  const reason: unknown = signal.reason;
  return reason instanceof SideloadError ? reason.exitStatus : signalExitStatus.SIGINT;
}

/** The abort reason for a signal: an INTERRUPTED error with the shell's exit status for it. */
export function signalReason(name: HandledSignal): SideloadError {
  return new SideloadError("INTERRUPTED", `interrupted by ${name}`, { signal: name });
}

/**
 * Turn SIGINT, SIGTERM and SIGHUP (an operator's SSH session dropping) into an abort: the run
 * stops starting proxies, ends the running ones, reports and exits 128 + the signal's number.
 * A second signal, or a run that has not stopped 10 s after the first, exits at once.
 */
export function watchSignals(controller = new AbortController()): AbortSignal {
  for (const name of Object.keys(signalExitStatus) as HandledSignal[]) {
    process.on(name, () => {
      if (controller.signal.aborted) {
        process.exit(interruptedStatus(controller.signal));
      }
      controller.abort(signalReason(name));
      setTimeout(() => {
        process.stderr.write(`mp-sideload: did not stop within 10 s of ${name}; exiting now\n`);
        process.exit(signalExitStatus[name]);
      }, 10_000).unref();
    });
  }
  return controller.signal;
}

/** The real terminal of this process; `signal` comes from `watchSignals` (the bin shim's). */
export function createTerminal(signal: AbortSignal = watchSignals()): Terminal {
  const env = process.env;
  // isatty(0), not process.stdin.isTTY: stdin's stream is made only when a command reads it.
  const stdinIsTerminal = isatty(0);
  const interactive = stdinIsTerminal && Boolean(process.stdout.isTTY) && !env.CI;
  return {
    out: (text) => void process.stdout.write(scrubControls(redact(text))),
    err: (text) => void process.stderr.write(scrubControls(redact(text))),
    interactive,
    color: Boolean(process.stderr.isTTY) && env.NO_COLOR === undefined && env.TERM !== "dumb",
    stdinIsTerminal,
    env,
    readStdin: () => text(process.stdin),
    signal,
  };
}
