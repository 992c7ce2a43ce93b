/**
 * Running the user's credential programs (a docker-credential-* helper, a credentials helper, a
 * token command): never through a shell, with a time limit, stdin given, output captured.
 */
import { spawn } from "node:child_process";
import { SideloadError, oneLine, quote } from "../errors.js";
import { redact } from "../redact.js";

export interface ProgramResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Split a command line into words as a POSIX shell would for plain words and quotes (no
 * expansion, no pipes): `aws ecr get-login-password --region "eu west"` → 4 words. Whoever needs
 * a shell says so: `sh -c '…'`.
 */
export function splitCommand(command: string, where: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quoteChar: '"' | "'" | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i] as string;
    if (quoteChar === "'") {
      if (c === "'") quoteChar = undefined;
      else word += c;
    } else if (quoteChar === '"') {
      if (c === '"') quoteChar = undefined;
      else if (c === "\\" && i + 1 < command.length && '"\\$`'.includes(command[i + 1] as string))
        word += command[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quoteChar = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < command.length) {
      word += command[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quoteChar !== undefined) {
    throw new SideloadError("USAGE", `${where}: unbalanced ${quoteChar} in ${quote(command)}`, {
      hint: "close the quote, or give the command through sh -c '…'",
    });
  }
  if (inWord) words.push(word);
  if (words.length === 0)
    throw new SideloadError("USAGE", `${where}: the command is empty`, {
      hint: "e.g. aws ecr get-login-password",
    });
  return words;
}

/** Run `argv` with `stdin`; rejects only when it cannot start or exceeds `timeoutMs`. */
export function runProgram(
  argv: string[],
  options: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; what: string },
): Promise<ProgramResult> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 60_000,
      killSignal: "SIGKILL",
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      // A credential answer is a few KiB; anything past 1 MiB is not one.
      if (size > 1024 * 1024) child.kill("SIGKILL");
      else into.push(chunk);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));
    child.stdin.on("error", () => undefined); // a program that does not read its stdin
    child.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        new SideloadError(
          "CREDENTIALS_MISSING",
          `${options.what}: cannot run ${quote(file ?? "")} (${error.code === "ENOENT" ? "not found on PATH" : (error.code ?? error.message)})`,
          { hint: "check the program's path, or that it is installed and on PATH" },
        ),
      );
    });
    child.once("close", (code, signal) => {
      if (signal === "SIGKILL") {
        return reject(
          new SideloadError(
            "CREDENTIALS_MISSING",
            `${options.what}: ${quote(file ?? "")} did not answer in time`,
            {
              hint: "run it by hand to see what it waits for (a login, a prompt?)",
            },
          ),
        );
      }
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code,
      });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

/** A program's stderr for a message: one line, secrets masked. */
export function stderrForMessage(stderr: string): string {
  const text = oneLine(redact(stderr), 300);
  return text === "" ? "no message on stderr" : text;
}
