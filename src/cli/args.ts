import { parseArgs, type ParseArgsConfig } from "node:util";
import { SideloadError } from "../errors.js";

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parse a command's argv strictly: an unknown option or a missing value is a usage error that
 * names the option and points at the command's --help.
 */
export function parseCommandArgs<O extends OptionSpecs>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.split(". ")[0] ?? "bad arguments";
    throw new SideloadError("USAGE", `${command}: ${message}`, {
      hint: `run 'mp-sideload ${command} --help' for its options`,
    });
  }
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
