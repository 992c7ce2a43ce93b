/**
 * Every prompt of mp-sideload. Loaded only in interactive runs. Prompts are serialised: several
 * proxies connecting at once may each need an answer (an unknown host key), one at a time.
 */
import { SideloadError } from "../errors.js";

let queue: Promise<unknown> = Promise.resolve();

function serial<T>(ask: () => Promise<T>): Promise<T> {
  const next = queue.then(ask, ask);
  queue = next.catch(() => undefined);
  return next.catch((error: unknown) => {
    // Ctrl-C inside a prompt: a clean interruption, not a crash.
    if (error instanceof Error && error.name === "ExitPromptError") {
      throw new SideloadError("INTERRUPTED", "interrupted at a prompt", { exitStatus: 130 });
    }
    throw error;
  });
}

async function inquirer() {
  return import("@inquirer/prompts");
}

export const prompts = {
  registryUser: (registry: string) =>
    serial(async () =>
      (await inquirer()).input({ message: `User for registry ${registry}:`, required: true }),
    ),
  registryPassword: (registry: string, user: string) =>
    serial(async () =>
      (await inquirer()).password({ message: `Password of ${user} at ${registry}:`, mask: "*" }),
    ),
  sshPassword: (what: string) =>
    serial(async () => (await inquirer()).password({ message: `SSH password for ${what}:`, mask: "*" })),
  keyPassphrase: (file: string) =>
    serial(async () => (await inquirer()).password({ message: `Passphrase for ${file}:`, mask: "*" })),
  trustHostKey: (name: string, keyType: string, fingerprint: string) =>
    serial(async () =>
      (await inquirer()).confirm({
        message: `${name} is not in known_hosts. Its ${keyType} key fingerprint is ${fingerprint}. Trust it and remember it?`,
        default: false,
      }),
    ),
  confirmRun: (message: string) => serial(async () => (await inquirer()).confirm({ message, default: true })),
};
