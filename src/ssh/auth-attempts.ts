/**
 * SSH authentication, in OpenSSH's order: agent, keys (-i, then IdentityFile or the defaults;
 * a passphrase asked once per key), password, keyboard-interactive (the password asked once).
 */
import ssh2 from "ssh2";
import type { AuthenticationType, NextAuthHandler, ParsedKey } from "ssh2";
import { SideloadError } from "../errors.js";
import { readRegularFile } from "../files.js";
import type { SshRunState } from "./run-state.js";
import type { IdentityBytes, SshAuthSources, SshTarget } from "./types.js";

const { utils } = ssh2;

/** ssh2's `authHandler` for `proxy`, with what it tried and the method that last went out. */
export function authHandlerFor(proxy: SshTarget, sources: SshAuthSources, run: SshRunState) {
  const log: AuthLog = { tried: [], skipped: [] };
  const attempts = authAttempts(proxy, sources, run, log);
  const state = {
    attempted: false,
    /** What was offered and what was passed over, for SSH_AUTH_FAILED. */
    log,
    /** `user root; tried: ssh-agent, key /k, password; not offered: key /j (no such file)`. */
    describe: (): string => {
      const tried = log.tried.length === 0 ? "nothing" : log.tried.join(", ");
      const skipped = log.skipped.length === 0 ? "" : `; not offered: ${log.skipped.join(", ")}`;
      return `user ${proxy.user}; tried: ${tried}${skipped}`;
    },
    /** The last method offered: the one that succeeded once the connection is ready. */
    method: undefined as string | undefined,
    handler: (
      methodsLeft: AuthenticationType[] | null,
      _partial: boolean | null,
      next: NextAuthHandler,
    ): void => {
      state.attempted = true;
      const pick = async () => {
        for (;;) {
          const attempt = attempts.next();
          if (attempt.done) return false as const;
          const method = await attempt.value(methodsLeft);
          if (method) return method;
        }
      };
      pick().then(
        (method) => {
          state.method = method === false ? undefined : (method as { type: string }).type;
          next(method as Parameters<NextAuthHandler>[0]);
        },
        () => next(false as unknown as Parameters<NextAuthHandler>[0]),
      );
    },
  };
  return state;
}

type Attempt = (methodsLeft: AuthenticationType[] | null) => Promise<unknown>;

/** The methods (and keys) offered to the server, and the keys not offered with the reason. */
export interface AuthLog {
  tried: string[];
  skipped: string[];
}

/** A private key file's bytes, or why they cannot be used. */

/** The largest private key file read: an RSA 16384-bit key in PEM is ~13 KiB. */
export const maxIdentityBytes = 1024 * 1024;

const identityHint =
  "give --identity (or the inventory's identity, or the ssh config's IdentityFile) the path of a private key file";

/** Read a key file as every input file is read: a regular file, at most 1 MiB (never /dev/zero). */
function identityBytes(file: string, run: SshRunState): Promise<IdentityBytes> {
  let read = run.identityFiles.get(file);
  if (read === undefined) {
    read = readRegularFile(file, {
      what: "SSH identity",
      hint: identityHint,
      maxBytes: maxIdentityBytes,
    }).then(
      (bytes) => ({ bytes }),
      (error: unknown) => {
        const failure =
          error instanceof SideloadError
            ? error
            : new SideloadError("FILE_UNREADABLE", `${file}: ${String(error)}`, { hint: identityHint });
        return { error: failure, missing: failure.code === "FILE_NOT_FOUND" };
      },
    );
    run.identityFiles.set(file, read);
  }
  return read;
}

/** The parsed key, or why it is not offered (for SSH_AUTH_FAILED's list). */
function identityKey(file: string, sources: SshAuthSources, run: SshRunState): Promise<ParsedKey | string> {
  let key = run.identityKeys.get(file);
  if (key === undefined) run.identityKeys.set(file, (key = loadIdentityKey(file, sources, run)));
  return key;
}

async function loadIdentityKey(
  file: string,
  sources: SshAuthSources,
  run: SshRunState,
): Promise<ParsedKey | string> {
  const read = await identityBytes(file, run);
  if ("error" in read) return read.missing ? "no such file" : "not a readable regular file";
  let parsed = utils.parseKey(read.bytes);
  if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message)) {
    const passphrase = sources.passphrase ? await sources.passphrase(file) : undefined;
    if (passphrase === undefined) return "encrypted, no passphrase given";
    parsed = utils.parseKey(read.bytes, passphrase);
    if (parsed instanceof Error) return "wrong passphrase";
  }
  return parsed instanceof Error ? "not a private key ssh2 can read" : parsed;
}

/** The key files named for `proxy` (not the defaults), and whether each must exist. */
function namedIdentities(proxy: SshTarget, sources: SshAuthSources): { file: string; required: boolean }[] {
  return [
    ...(proxy.identity ? [{ file: proxy.identity, required: true }] : []),
    ...sources.identities.map((file) => ({ file, required: true })),
    // As OpenSSH: an IdentityFile that does not exist is passed over (configs list keys for
    // several machines), but one that exists must be a key file.
    ...(proxy.identityFiles ?? []).map((file) => ({ file, required: false })),
  ];
}

/**
 * Read every key file named for these proxies (--identity, the inventory's identity, the ssh
 * config's IdentityFile) before any connection: a missing --identity or inventory identity is
 * FILE_NOT_FOUND, and a FIFO, a device or an oversized file FILE_UNREADABLE (exit 2), instead
 * of an authentication that fails (or reads forever) later. The bytes are kept for the run.
 */
export async function checkIdentityFiles(
  proxies: SshTarget[],
  sources: SshAuthSources,
  run: SshRunState,
): Promise<void> {
  const seen = new Map<string, boolean>();
  for (const proxy of proxies) {
    for (const { file, required } of namedIdentities(proxy, sources))
      seen.set(file, (seen.get(file) ?? false) || required);
  }
  for (const [file, required] of seen) {
    const read = await identityBytes(file, run);
    if ("error" in read && (required || !read.missing)) throw read.error;
  }
}

/** The auth methods to try, in OpenSSH's order: agent, keys, password, keyboard-interactive. */
function* authAttempts(
  proxy: SshTarget,
  sources: SshAuthSources,
  run: SshRunState,
  log: AuthLog,
): Generator<Attempt> {
  const allowed = (left: AuthenticationType[] | null, type: AuthenticationType) =>
    left === null || left.includes(type);
  const username = proxy.user;
  // IdentityAgent none, or IdentitiesOnly (the agent's other keys must not be offered).
  const agent = proxy.agent === null || proxy.identitiesOnly ? undefined : (proxy.agent ?? sources.agent);
  if (agent) {
    yield (left) => {
      if (!allowed(left, "publickey")) return Promise.resolve(undefined);
      log.tried.push("ssh-agent");
      return Promise.resolve({ type: "agent", username, agent });
    };
  }
  // As OpenSSH: -i keys, then the host's IdentityFile lines (which replace the default keys).
  const files = [
    ...new Set([
      ...(proxy.identity ? [proxy.identity] : []),
      ...sources.identities,
      ...(proxy.identityFiles ?? sources.defaultIdentities ?? []),
    ]),
  ];
  const named = new Set(namedIdentities(proxy, sources).map((n) => n.file));
  for (const file of files) {
    yield async (left) => {
      if (!allowed(left, "publickey")) return undefined;
      const key = await identityKey(file, sources, run);
      if (typeof key === "string") {
        // A default key that is not there is not worth a word (OpenSSH says nothing either).
        if (!(key === "no such file" && !named.has(file))) log.skipped.push(`key ${file} (${key})`);
        return undefined;
      }
      log.tried.push(`key ${file}`);
      // The parsed key: ssh2 takes it as it is, instead of parsing the file once more.
      return { type: "publickey", username, key };
    };
  }
  let password: Promise<string | undefined> | undefined;
  const getPassword = () => (password ??= sources.password ? sources.password() : Promise.resolve(undefined));
  yield async (left) => {
    if (!allowed(left, "password")) return undefined;
    const pw = await getPassword();
    if (pw === undefined) return undefined;
    log.tried.push("password");
    return { type: "password", username, password: pw };
  };
  yield async (left) => {
    if (!allowed(left, "keyboard-interactive")) return undefined;
    const pw = await getPassword();
    if (pw === undefined) return undefined;
    log.tried.push("keyboard-interactive");
    return {
      type: "keyboard-interactive",
      username,
      prompt: (_n: string, _i: string, _l: string, prompts: unknown[], finish: (answers: string[]) => void) =>
        finish(prompts.map(() => pw)),
    };
  };
}
