/**
 * Where a command's report goes, the same for every command: stdout (the JSON document with
 * --json, else the human form), then the --report and --junit files. The files come last: a
 * late failure to write one never hides the results.
 */
import { writeFileAtomic } from "../../files.js";
import type { Terminal } from "../terminal.js";

/** The output flags of a command. */
export interface OutputFlags {
  json?: boolean | undefined;
  report?: string | undefined;
  junit?: string | undefined;
}

/** One report in its three forms (JUnit made only when asked for). */
export interface ReportForms {
  json: string;
  human: string;
  junit: () => string;
}

export async function writeOutputs(
  terminal: Terminal,
  flags: OutputFlags,
  forms: ReportForms,
): Promise<void> {
  terminal.out(flags.json ? forms.json : forms.human);
  if (flags.report !== undefined)
    await writeFileAtomic(flags.report, forms.json, { mode: 0o644, what: "--report" });
  if (flags.junit !== undefined)
    await writeFileAtomic(flags.junit, forms.junit(), { mode: 0o644, what: "--junit" });
}
