/**
 * Credentials from programs the user names: a credentials helper (`PATH get IMAGE` → JSON
 * `{"username", "password"}`, again with `--refresh` after a refusal) and a token command whose
 * stdout is the password (`aws ecr get-login-password`, `gcloud auth print-access-token`).
 */
import { SideloadError } from "../errors.js";
import type { RegistryAuth } from "./registry-auth.js";
import { registerSecret } from "../redact.js";
import { runProgram, splitCommand, stderrForMessage } from "./run-program.js";

/** Ask a credentials helper program for `image`'s registry credentials. */
export async function askHelperProgram(
  program: string,
  image: string,
  registry: string,
  refresh: boolean,
  env: NodeJS.ProcessEnv,
): Promise<RegistryAuth> {
  const what = `--registry-credentials-helper ${program}`;
  const args = [program, "get", image, ...(refresh ? ["--refresh"] : [])];
  const result = await runProgram(args, { what, env });
  if (result.code !== 0) {
    throw new SideloadError(
      "CREDENTIALS_MISSING",
      `${what} get ${image}${refresh ? " --refresh" : ""} failed (exit ${result.code}): ${stderrForMessage(result.stderr)}`,
      { hint: "run the helper by hand to see why" },
    );
  }
  let answer: { username?: unknown; password?: unknown };
  try {
    answer = JSON.parse(result.stdout) as typeof answer;
  } catch {
    throw new SideloadError("CREDENTIALS_MISSING", `${what}: the answer is not JSON`, {
      hint: 'the helper must print {"username": "…", "password": "…"}',
    });
  }
  if (
    typeof answer.username !== "string" ||
    answer.username === "" ||
    typeof answer.password !== "string" ||
    answer.password === ""
  ) {
    throw new SideloadError("CREDENTIALS_MISSING", `${what}: the answer lacks username or password`, {
      hint: 'the helper must print {"username": "…", "password": "…"}',
    });
  }
  registerSecret(answer.password);
  return { username: answer.username, password: answer.password, serveraddress: registry };
}

/** Run a token command; its stdout, trimmed, is the password. */
export async function runPasswordCommand(
  command: string,
  what: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const argv = splitCommand(command, what);
  const result = await runProgram(argv, { what, env });
  const password = result.stdout.trim();
  registerSecret(password);
  if (result.code !== 0) {
    throw new SideloadError(
      "CREDENTIALS_MISSING",
      `${what}: ${argv[0] ?? ""} exited ${result.code}: ${stderrForMessage(result.stderr)}`,
      { hint: "run the command by hand: it may need a login (aws sso login, gcloud auth login, az login)" },
    );
  }
  if (password === "") {
    throw new SideloadError("CREDENTIALS_MISSING", `${what}: ${argv[0] ?? ""} printed no password`, {
      hint: "the command must print the password or token on stdout",
    });
  }
  return password;
}
