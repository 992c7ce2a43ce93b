/**
 * Every prompt of mp-sideload. Loaded only in interactive runs. Prompts are serialised: several
 * proxies connecting at once may each need an answer (an unknown host key), one at a time.
 * Ctrl-C or Esc at any prompt is a clean interruption (exit 130), never a crash.
 */
import { emitKeypressEvents } from "node:readline";
import { SideloadError } from "../errors.js";

let queue: Promise<unknown> = Promise.resolve();

/** What inquirer's prompts take besides their config: Esc aborts through `signal`. */
interface PromptContext {
  signal: AbortSignal;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

/** Streams for the prompts instead of the process's (tests drive them with @inquirer/testing). */
let streams: { input?: NodeJS.ReadableStream; output?: NodeJS.WritableStream } = {};

/** Run `ask` with prompts reading `input` and writing `output`. */
export async function withPromptStreams<T>(
  context: { input?: NodeJS.ReadableStream; output?: NodeJS.WritableStream },
  ask: () => Promise<T>,
): Promise<T> {
  const previous = streams;
  streams = context;
  try {
    return await ask();
  } finally {
    streams = previous;
  }
}

function serial<T>(ask: (context: PromptContext) => Promise<T>): Promise<T> {
  const run = async () => {
    const controller = new AbortController();
    const onKey = (_text: string, key: { name?: string } | undefined) => {
      if (key?.name === "escape") controller.abort();
    };
    const input = (streams.input ?? process.stdin) as NodeJS.ReadableStream & {
      off: typeof process.stdin.off;
    };
    emitKeypressEvents(input);
    input.on("keypress", onKey);
    try {
      return await ask({ signal: controller.signal, ...streams });
    } finally {
      input.off("keypress", onKey);
    }
  };
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next.catch((error: unknown) => {
    if (error instanceof Error && (error.name === "ExitPromptError" || error.name === "AbortPromptError")) {
      throw new SideloadError("INTERRUPTED", "interrupted at a prompt: nothing was changed");
    }
    throw error;
  });
}

async function inquirer() {
  return import("@inquirer/prompts");
}

/** A choice of a list prompt. */
export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
  disabled?: boolean | string;
  /** In a multi-select: checked at first (default true). */
  checked?: boolean;
}

/** A group of checkbox choices, shown under its name. */
export interface ChoiceGroup<T> {
  group: string;
  choices: Choice<T>[];
}

export const prompts = {
  registryUser: (registry: string) =>
    serial(async (ctx) =>
      (await inquirer()).input({ message: `User for registry ${registry}:`, required: true }, ctx),
    ),
  registryPassword: (registry: string, user: string) =>
    serial(async (ctx) =>
      (await inquirer()).password(
        {
          message: `Password of ${user} at ${registry}:`,
          mask: "*",
          validate: (v) => (v === "" ? "a password is required" : true),
        },
        ctx,
      ),
    ),
  opsUser: (url: string) =>
    serial(async (ctx) =>
      (await inquirer()).input({ message: `User for VCF Operations ${url}:`, required: true }, ctx),
    ),
  opsPassword: (url: string, user: string) =>
    serial(async (ctx) =>
      (await inquirer()).password(
        {
          message: `Password of ${user} at VCF Operations ${url}:`,
          mask: "*",
          validate: (v) => (v === "" ? "a password is required" : true),
        },
        ctx,
      ),
    ),
  sshPassword: (what: string) =>
    serial(async (ctx) =>
      (await inquirer()).password({ message: `SSH password for ${what}:`, mask: "*" }, ctx),
    ),
  becomePassword: (what: string) =>
    serial(async (ctx) =>
      (await inquirer()).password(
        {
          message: `sudo password for ${what} (become):`,
          mask: "*",
          validate: (v) => (v === "" ? "a password is required" : true),
        },
        ctx,
      ),
    ),
  keyPassphrase: (file: string) =>
    serial(async (ctx) =>
      (await inquirer()).password({ message: `Passphrase for ${file}:`, mask: "*" }, ctx),
    ),
  trustHostKey: (name: string, keyType: string, fingerprint: string) =>
    serial(async (ctx) =>
      (await inquirer()).confirm(
        {
          message: `${name} is not in known_hosts. Its ${keyType} key fingerprint is ${fingerprint}. Trust it and remember it?`,
          default: false,
        },
        ctx,
      ),
    ),
  confirmRun: (message: string) =>
    serial(async (ctx) => (await inquirer()).confirm({ message, default: true }, ctx)),

  // The wizard's questions.
  choose: <T>(message: string, choices: Choice<T>[]) =>
    serial(async (ctx) => (await inquirer()).select<T>({ message, choices, pageSize: 12, loop: false }, ctx)),
  text: (
    message: string,
    validate: (value: string) => Promise<string | true> | string | true,
    defaultValue?: string,
  ) =>
    serial(async (ctx) =>
      (await inquirer()).input(
        { message, validate, required: true, ...(defaultValue ? { default: defaultValue } : {}) },
        ctx,
      ),
    ),
  pickMany: <T>(message: string, groups: ChoiceGroup<T>[]) =>
    serial(async (ctx) => {
      const { checkbox, Separator } = await inquirer();
      const choices = groups.flatMap((g) => [
        new Separator(`── ${g.group}`),
        ...g.choices.map((c) => ({ ...c, checked: c.checked ?? true })),
      ]);
      return checkbox<T>({ message, choices, pageSize: 15, loop: false, required: true }, ctx);
    }),
  confirm: (message: string, defaultValue: boolean) =>
    serial(async (ctx) => (await inquirer()).confirm({ message, default: defaultValue }, ctx)),
  /**
   * Proxies from VCF Operations: install the pack there too, once they hold its images? "No" by
   * default: an install changes VCF Operations, not only the proxies.
   */
  installNow: () =>
    serial(async (ctx) =>
      (await inquirer()).confirm({ message: "Install the pack now?", default: false }, ctx),
    ),
};
