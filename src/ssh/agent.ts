/**
 * Which SSH agent to ask when nothing names one, as OpenSSH's client does on each platform:
 * `SSH_AUTH_SOCK` wherever it is set; else, on Windows, the OpenSSH for Windows agent service's
 * named pipe when it exists, else Pageant (ssh2 speaks to both: a pipe path is an
 * `OpenSSHAgent`, the word `pageant` its `PageantAgent`). On macOS launchd sets SSH_AUTH_SOCK.
 */
import { existsSync } from "node:fs";

/** The pipe of Windows' `ssh-agent` service (OpenSSH for Windows). */
export const windowsAgentPipe = "\\\\.\\pipe\\openssh-ssh-agent";

/** The agent for ssh2's `agent` option, or undefined for none. */
export function defaultAgent(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  if (env.SSH_AUTH_SOCK) return env.SSH_AUTH_SOCK;
  if (platform !== "win32") return undefined;
  return exists(windowsAgentPipe) ? windowsAgentPipe : "pageant";
}
