/**
 * SSH authentication, in OpenSSH's order: agent, keys (-i, then IdentityFile or the defaults;
 * a passphrase asked once per key), password, keyboard-interactive (the password asked once).
 */
import { readFile } from "node:fs/promises";
import ssh2 from "ssh2";
import type { AuthenticationType, NextAuthHandler, ParsedKey } from "ssh2";
import type { Proxy } from "../inventory/proxy.js";
import type { SshAuthSources } from "./connect.js";

const { utils } = ssh2;

/** ssh2's `authHandler` for `proxy`, with what it tried and the method that last went out. */
export function authHandlerFor(proxy: Proxy, sources: SshAuthSources) {
  const attempts = authAttempts(proxy, sources);
  const state = {
    attempted: false,
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

/**
 * Identity files read, parsed (and decrypted) once per run (per set of auth sources), however
 * many proxies use them:
 * parsing a key builds its PEM forms, a few ms per proxy otherwise. Undefined for a file that
 * does not exist, cannot be parsed, or whose passphrase was not given.
 */
const identityKeys = new WeakMap<SshAuthSources, Map<string, Promise<ParsedKey | undefined>>>();

function identityKey(file: string, sources: SshAuthSources): Promise<ParsedKey | undefined> {
  let run = identityKeys.get(sources);
  if (run === undefined) identityKeys.set(sources, (run = new Map<string, Promise<ParsedKey | undefined>>()));
  let key = run.get(file);
  if (key === undefined) run.set(file, (key = loadIdentityKey(file, sources)));
  return key;
}

async function loadIdentityKey(file: string, sources: SshAuthSources): Promise<ParsedKey | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return undefined; // a default identity that does not exist
  }
  let parsed = utils.parseKey(bytes);
  if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message) && sources.passphrase) {
    const passphrase = await sources.passphrase(file);
    if (passphrase === undefined) return undefined;
    parsed = utils.parseKey(bytes, passphrase);
  }
  return parsed instanceof Error ? undefined : parsed;
}

/** The auth methods to try, in OpenSSH's order: agent, keys, password, keyboard-interactive. */
function* authAttempts(proxy: Proxy, sources: SshAuthSources): Generator<Attempt> {
  const allowed = (left: AuthenticationType[] | null, type: AuthenticationType) =>
    left === null || left.includes(type);
  const username = proxy.user;
  // IdentityAgent none, or IdentitiesOnly (the agent's other keys must not be offered).
  const agent = proxy.agent === null || proxy.identitiesOnly ? undefined : (proxy.agent ?? sources.agent);
  if (agent) {
    yield (left) =>
      Promise.resolve(allowed(left, "publickey") ? { type: "agent", username, agent } : undefined);
  }
  // As OpenSSH: -i keys, then the host's IdentityFile lines (which replace the default keys).
  const files = [
    ...new Set([
      ...(proxy.identity ? [proxy.identity] : []),
      ...sources.identities,
      ...(proxy.identityFiles ?? sources.defaultIdentities ?? []),
    ]),
  ];
  for (const file of files) {
    yield async (left) => {
      if (!allowed(left, "publickey")) return undefined;
      const key = await identityKey(file, sources);
      // The parsed key: ssh2 takes it as it is, instead of parsing the file once more.
      return key === undefined ? undefined : { type: "publickey", username, key };
    };
  }
  let password: Promise<string | undefined> | undefined;
  const getPassword = () => (password ??= sources.password ? sources.password() : Promise.resolve(undefined));
  yield async (left) => {
    if (!allowed(left, "password")) return undefined;
    const pw = await getPassword();
    return pw === undefined ? undefined : { type: "password", username, password: pw };
  };
  yield async (left) => {
    if (!allowed(left, "keyboard-interactive")) return undefined;
    const pw = await getPassword();
    if (pw === undefined) return undefined;
    return {
      type: "keyboard-interactive",
      username,
      prompt: (_n: string, _i: string, _l: string, prompts: unknown[], finish: (answers: string[]) => void) =>
        finish(prompts.map(() => pw)),
    };
  };
}
