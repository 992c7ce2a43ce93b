import { parseArgs, type ParseArgsConfig } from "node:util";
import { SideloadError } from "../errors.js";
import { nearest } from "../nearest.js";
import type { Terminal } from "./terminal.js";

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parse a command's argv strictly: an unknown option or a missing value is a usage error that
 * names the option and points at the command's --help; a mistyped option gets the nearest one,
 * and a secret asked for as an option gets why there is none and what to use instead.
 */
export function parseCommandArgs<O extends OptionSpecs>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    const unknown = unknownOptionOf(error);
    if (unknown !== undefined) throw unknownOptionError(command, unknown, Object.keys(options));
    const message = (error as Error).message.split(". ")[0] ?? "bad arguments";
    throw new SideloadError("USAGE", `${command}: ${message}`, {
      hint: `run 'mp-sideload ${command} --help' for its options`,
    });
  }
}

/**
 * Options people guess that must not exist, since argv is visible to every user of the machine
 * (`ps`, `/proc/PID/cmdline`), and the ways that do exist for each secret.
 */
export const secretOptions: Record<string, { what: string; instead: string }> = {
  "registry-password": {
    what: "a password",
    instead: "--registry-password-stdin, MP_SIDELOAD_REGISTRY_PASSWORD or the prompt",
  },
  "ssh-password": { what: "a password", instead: "MP_SIDELOAD_SSH_PASSWORD or the prompt" },
  "ops-password": {
    what: "a password",
    instead: "--ops-password-stdin, MP_SIDELOAD_OPS_PASSWORD or the prompt",
  },
  "become-password": {
    what: "a sudo password",
    instead: "--become-password-stdin, MP_SIDELOAD_BECOME_PASSWORD or the prompt",
  },
};

/** The option parseArgs did not know (`--name` or `-x`, without any `=value`), if that was the error. */
function unknownOptionOf(error: unknown): string | undefined {
  if ((error as { code?: unknown }).code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION") return undefined;
  return /Unknown option '([^'=]+)/.exec((error as Error).message)?.[1];
}

function unknownOptionError(command: string, option: string, known: string[]): SideloadError {
  const name = option.replace(/^--?/, "");
  const secret = option.startsWith("--") ? secretOptions[name] : undefined;
  if (secret) {
    return new SideloadError(
      "USAGE",
      `${command}: there is no ${option}: ${secret.what} in argv is visible to every user of this machine (ps)`,
      { hint: `use ${secret.instead}` },
    );
  }
  const suggestion = option.startsWith("--") ? nearest(name, known) : undefined;
  return new SideloadError("USAGE", `${command}: unknown option ${option}`, {
    hint: `${suggestion === undefined ? "" : `did you mean --${suggestion}? `}run 'mp-sideload ${command} --help' for its options`,
  });
}

/** The one positional a command takes (the pak), or a usage error saying what is missing. */
export function onePositional(command: string, positionals: string[], what: string): string {
  if (positionals.length === 0) {
    throw new SideloadError("USAGE", `${command}: missing ${what}`, {
      hint: `e.g. mp-sideload ${command} my-adapter.pak`,
    });
  }
  if (positionals.length > 1) {
    throw new SideloadError("USAGE", `${command}: expected one ${what}, got ${positionals.length}`, {
      hint: `run 'mp-sideload ${command} --help'`,
    });
  }
  return positionals[0] as string;
}

/** A whole number option within bounds. */
export function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  // Decimal digits only: Number() would also take "1e3", "0x10" and " 8 ".
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SideloadError(
      "USAGE",
      `--${name} ${JSON.stringify(value)} is not a whole number from ${min} to ${max}`,
      {
        hint: `e.g. --${name} ${fallback}`,
      },
    );
  }
  return n;
}

/** The options that read a secret from stdin: the registry's here, and those of other sources. */
const stdinSecretOptions = ["--registry-password-stdin", "--ops-password-stdin", "--become-password-stdin"];

/**
 * Refuse a `-stdin` secret option when stdin is a terminal: the read would wait silently and
 * echo the password as it is typed. Checked on the raw argv before a command starts, so that it
 * comes before any connection whatever the command does first.
 */
export function refuseSecretFromTerminal(argv: readonly string[], terminal: Terminal): void {
  if (!terminal.stdinIsTerminal) return;
  const end = argv.indexOf("--");
  const given = (end === -1 ? argv : argv.slice(0, end)).find((a) => stdinSecretOptions.includes(a));
  if (given === undefined) return;
  throw new SideloadError(
    "USAGE",
    `${given} reads stdin, and stdin is a terminal: the secret would show as typed`,
    {
      hint: `leave ${given} out and answer the masked prompt, or redirect a file: ${given} < secret.txt`,
    },
  );
}

/**
 * The paks a command works on, as given (files or folders): at least one, or a usage error
 * whose hint is `example`.
 */
export function requirePaks(command: string, positionals: string[], example: string): string[] {
  if (positionals.length === 0)
    throw new SideloadError("USAGE", `${command}: missing pak file`, { hint: `e.g. ${example}` });
  return positionals;
}
