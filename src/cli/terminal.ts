import { redact } from "../credentials/redact.js";

/** What a command may do with the outside world: the seam tests replace. */
export interface Terminal {
  /** Write to stdout (the JSON document with --json, else human output). */
  out(text: string): void;
  /** Write to stderr (diagnostics, progress). Redacted. */
  err(text: string): void;
  /** True when prompts and spinners are allowed: both ends are terminals and CI is not set. */
  interactive: boolean;
  /** True when colour is allowed (interactive stderr, NO_COLOR unset). */
  color: boolean;
  env: NodeJS.ProcessEnv;
  /** Read all of stdin (for --registry-password-stdin). */
  readStdin(): Promise<string>;
  /** Ctrl-C: aborted once the user interrupts. */
  signal: AbortSignal;
}

/** The real terminal of this process. */
export function createTerminal(): Terminal {
  const env = process.env;
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !env.CI;
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort(new Error("interrupted")));
  process.once("SIGTERM", () => controller.abort(new Error("terminated")));
  return {
    out: (text) => void process.stdout.write(redact(text)),
    err: (text) => void process.stderr.write(redact(text)),
    interactive,
    color: Boolean(process.stderr.isTTY) && env.NO_COLOR === undefined && env.TERM !== "dumb",
    env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    signal: controller.signal,
  };
}
