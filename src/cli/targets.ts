/**
 * The target options every proxy command shares (`pull`, `verify`, `doctor`): which proxies,
 * and how to reach them over SSH (known_hosts, keys, agent, password).
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { SideloadError, quote } from "../errors.js";
import { registerSecret } from "../credentials/redact.js";
import { loadInventories } from "../inventory/load-inventory.js";
import { readLimit, selectProxies } from "../inventory/host-pattern.js";
import { parseProxyArg, type Proxy } from "../inventory/proxy.js";
import { readEarlierReport } from "../report/earlier-report.js";
import { JumpPool, defaultIdentities, loadKnownHosts, type ConnectOptions } from "../ssh/connect.js";
import { openSshConfig } from "../ssh/ssh-config.js";
import { resolveRoutes } from "../inventory/routes.js";
import type { KnownHostLine } from "../ssh/known-hosts.js";
import type { Terminal } from "./terminal.js";

export const targetOptionSpecs = {
  inventory: { type: "string" },
  proxy: { type: "string", multiple: true },
  limit: { type: "string", multiple: true },
  "known-hosts": { type: "string" },
  "accept-new-host-keys": { type: "boolean" },
  identity: { type: "string", multiple: true },
  "ssh-user": { type: "string" },
  "ssh-config": { type: "string" },
  jump: { type: "string", multiple: true },
} as const;

export const targetOptionsHelp = `Targets:
  --inventory FILE            native YAML, or an Ansible INI/YAML inventory
  --proxy [user@]host[:port]  a proxy (repeatable)
  --limit PATTERN             Ansible host pattern: group, name, a:b, a:&b, a:!b, *, ~re, g[0] (repeatable)
  --known-hosts FILE          default ~/.ssh/known_hosts
  --accept-new-host-keys      record unknown host keys (never changed ones)
  --identity FILE             private key (repeatable); ssh-agent is used when SSH_AUTH_SOCK is set
  --ssh-user USER             default root (else the ssh config's User)
  --ssh-config FILE|none      OpenSSH client config to apply (default ~/.ssh/config when it exists)
  --jump [user@]host[:port]   jump host(s) for every proxy, like ssh -J (repeatable, or a,b)
`;

export interface TargetValues {
  inventory?: string | undefined;
  proxy?: string[] | undefined;
  limit?: string[] | undefined;
  "known-hosts"?: string | undefined;
  "accept-new-host-keys"?: boolean | undefined;
  identity?: string[] | undefined;
  "ssh-user"?: string | undefined;
  "ssh-config"?: string | undefined;
  jump?: string[] | undefined;
  "only-failed"?: string | undefined;
}

/** known_hosts as given, else OpenSSH's default. */
export function knownHostsFileOf(values: TargetValues): string {
  return values["known-hosts"] ?? join(homedir(), ".ssh", "known_hosts");
}

/**
 * The proxies to work on: the inventory and `--proxy` entries, narrowed by `--only-failed`
 * (an earlier report for these `references`) and `--limit`.
 */
export async function resolveProxies(
  values: TargetValues,
  references: string[],
  env: NodeJS.ProcessEnv,
  onDebug?: (message: string) => void,
  onWarning?: (message: string) => void,
): Promise<Proxy[]> {
  const sshUser = values["ssh-user"] ?? "root";
  const userGiven = values["ssh-user"] !== undefined;
  // Checked before the inventory: a report for another pak is refused whatever else is given.
  const unfinished =
    values["only-failed"] === undefined
      ? undefined
      : await readEarlierReport(values["only-failed"], references);
  const inventory =
    values.inventory === undefined
      ? undefined
      : await loadInventories([values.inventory], { defaultUser: sshUser, userGiven, onWarning });
  let proxies: Proxy[] = inventory?.proxies ?? [];
  // concat, not push(...): a spread of a large array overflows the call stack.
  proxies = proxies.concat((values.proxy ?? []).map((p) => parseProxyArg(p, sshUser, userGiven)));
  if (unfinished !== undefined) {
    const names = new Set(unfinished.map((f) => f.name));
    proxies =
      proxies.length === 0
        ? unfinished.map((f) => ({
            ...f,
            user: sshUser,
            groups: [],
            ...(userGiven ? {} : { defaulted: ["user" as const] }),
          }))
        : proxies.filter((p) => names.has(p.name));
  }
  if (proxies.length === 0 && unfinished === undefined) {
    throw new SideloadError("NO_PROXIES", "no proxies given", {
      hint: "pass --proxy HOST (repeatable) or --inventory FILE",
    });
  }
  const limit = await readLimit(values.limit ?? []);
  const selected = selectProxies(proxies, limit, inventory?.index, (p) =>
    onWarning?.(`--limit: ${quote(p)} matches no host or group`),
  );
  if (selected.length === 0 && unfinished === undefined) {
    throw new SideloadError(
      "NO_PROXIES",
      `no proxy matches --limit ${quote((values.limit ?? []).join(","))}`,
      {
        hint: "--limit takes Ansible's host patterns: names, groups, a:b, a:&b, a:!b, globs, ~regex",
      },
    );
  }
  const reader = openSshConfig(values["ssh-config"], env);
  onDebug?.(reader ? `ssh config ${reader.file} read with ${reader.via}` : "no ssh config applied");
  const jump = values.jump?.flatMap((j) => j.split(",")).filter((j) => j !== "");
  return resolveRoutes(selected, reader, {
    jump: jump && jump.length > 0 ? jump : undefined,
    defaultUser: sshUser,
  });
}

/**
 * known_hosts and the SSH connect options of a run: host keys checked against known_hosts
 * (asked about in a terminal), auth by agent, keys, then password; the SSH password and each
 * key's passphrase asked once per run however many proxies want them.
 */
export async function sshConnectSetup(
  values: TargetValues,
  terminal: Terminal,
  sshUser: string,
): Promise<{ knownHosts: KnownHostLine[]; connect: Omit<ConnectOptions, "signal">; close: () => void }> {
  const ask = terminal.interactive ? (await import("./prompts.js")).prompts : undefined;
  const knownHostsFile = knownHostsFileOf(values);
  const sshPasswordEnv = terminal.env.MP_SIDELOAD_SSH_PASSWORD || undefined;
  registerSecret(sshPasswordEnv);
  const knownHosts = await loadKnownHosts(knownHostsFile);
  const connect: Omit<ConnectOptions, "signal"> = {
    hostKeys: {
      knownHostsFile,
      knownHostsExplicit: values["known-hosts"] !== undefined,
      acceptNew: values["accept-new-host-keys"] ?? false,
      confirm: ask && ((proxy, fp, type) => ask.trustHostKey(proxy.name, type, fp)),
    },
    auth: {
      agent: terminal.env.SSH_AUTH_SOCK || undefined,
      identities: values.identity ?? [],
      defaultIdentities: defaultIdentities(terminal.env),
      password:
        sshPasswordEnv !== undefined
          ? () => Promise.resolve(sshPasswordEnv)
          : ask &&
            memo(async () => {
              const pw = await ask.sshPassword(`${sshUser}@proxies`);
              registerSecret(pw);
              return pw;
            }),
      // Asked once per key and run: the key is decrypted once and kept (auth-attempts.ts).
      passphrase: ask && ((file: string) => ask.keyPassphrase(file)),
    },
  };
  const jumps = new JumpPool(knownHosts, connect, terminal.signal);
  return { knownHosts, connect: { ...connect, jumps }, close: () => jumps.closeAll() };
}

/** The first call's promise, shared by every later call. */
export function memo<T>(get: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= get());
}

/** `memo` per key. */
export function memoBy<T>(get: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const values = new Map<string, Promise<T>>();
  return (key) => {
    const value = values.get(key) ?? get(key);
    values.set(key, value);
    return value;
  };
}
