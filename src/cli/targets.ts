/**
 * The target options every proxy command shares (`pull`, `verify`, `doctor`): which proxies,
 * and how to reach them over SSH (known_hosts, keys, agent, password).
 */
import { defaultAgent } from "../ssh/agent.js";
import { access } from "node:fs/promises";
import { SideloadError, quote } from "../errors.js";
import { homeDir } from "../files.js";
import { checkUser } from "../inventory/proxy.js";
import { registerSecret } from "../redact.js";
import type { BecomeQuery, ProxyQuery, SshInputs } from "../resolve/inputs.js";
import type { SshAuthPlan } from "../plan/plan.js";
import {
  checkKnownHostsFile,
  knownHostsFileOf,
  resolveProxies,
  type ResolvedProxies,
} from "../resolve/resolve-inputs.js";
import type { AdapterImage } from "../sideload/types.js";
import { JumpPool, defaultIdentities, loadKnownHosts, type ConnectOptions } from "../ssh/connect.js";
import type { KnownHostLine } from "../ssh/known-hosts.js";
import { SshRunState } from "../ssh/run-state.js";
import {
  opsConnectionFrom,
  opsOptionSpecs,
  opsOptionsHelp,
  opsUrlOf,
  type OpsValues,
} from "./ops-options.js";
import type { Terminal } from "./terminal.js";

/** The run options every per-proxy command takes (`pull`, `verify`, `doctor`, `prune`). */
export const runOptionSpecs = {
  concurrency: { type: "string" },
  timeout: { type: "string" },
  json: { type: "boolean" },
  report: { type: "string" },
  junit: { type: "string" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export const targetOptionSpecs = {
  inventory: { type: "string", multiple: true },
  /** The host of a pak that names no REGISTRY: the proxies' default registry. */
  "default-registry": { type: "string" },
  proxy: { type: "string", multiple: true },
  limit: { type: "string", multiple: true },
  "known-hosts": { type: "string" },
  "accept-new-host-keys": { type: "boolean" },
  identity: { type: "string", multiple: true },
  "ssh-user": { type: "string" },
  "ssh-config": { type: "string" },
  jump: { type: "string", multiple: true },
  become: { type: "boolean" },
  "become-user": { type: "string" },
  "become-password-stdin": { type: "boolean" },
  ...opsOptionSpecs,
} as const;

/** The options of every command that runs on proxies: which proxies, and how the run goes. */
export const proxyCommandOptionSpecs = { ...targetOptionSpecs, ...runOptionSpecs } as const;

export const targetOptionsHelp = `Targets:
  --inventory FILE|DIR        native YAML, or an Ansible INI/YAML inventory or folder (repeatable)
  --proxy [user@]host[:port]  a proxy (repeatable)
  --limit PATTERN             Ansible host pattern: group, name, a:b, a:&b, a:!b, *, ~re, g[0] (repeatable)
  --known-hosts FILE          default ~/.ssh/known_hosts
  --accept-new-host-keys      record unknown host keys (never changed ones)
  --identity FILE             private key (repeatable); ssh-agent is used when SSH_AUTH_SOCK is set
  --ssh-user USER             default root (else the ssh config's User)
  --ssh-config FILE|none      OpenSSH client config to apply (default ~/.ssh/config when it exists)
  --jump [user@]host[:port]   jump host(s) for every proxy, like ssh -J (repeatable, or a,b)
  --become                    reach the engine (and certs.d) through sudo on every proxy
  --become-user USER          who to become with sudo (default root; an inventory's own wins)
  --become-password-stdin     read the sudo password from stdin; or MP_SIDELOAD_BECOME_PASSWORD,
                              ansible_become_password, else asked in a terminal when sudo wants it
${opsOptionsHelp}`;

export interface TargetValues extends OpsValues {
  inventory?: string[] | undefined;
  proxy?: string[] | undefined;
  limit?: string[] | undefined;
  "known-hosts"?: string | undefined;
  "accept-new-host-keys"?: boolean | undefined;
  identity?: string[] | undefined;
  "ssh-user"?: string | undefined;
  "ssh-config"?: string | undefined;
  jump?: string[] | undefined;
  become?: boolean | undefined;
  "become-user"?: string | undefined;
  "become-password-stdin"?: boolean | undefined;
  "only-failed"?: string | undefined;
  /** Of the commands that take registry credentials: stdin is then the registry password's. */
  "registry-password-stdin"?: boolean | undefined;
}

/**
 * The target flags as the core's proxy query: read once, here. With `--ops` (or
 * MP_SIDELOAD_OPS_URL), its credentials are settled now (asked in a terminal), before anything
 * is contacted.
 */
export async function proxyQueryOf(
  values: TargetValues,
  terminal: Terminal,
  onDebug?: (message: string) => void,
): Promise<ProxyQuery> {
  const opsUrl = opsUrlOf(values, terminal.env);
  const become = await becomeQueryOf(values, terminal);
  return {
    ...(opsUrl === undefined
      ? {}
      : {
          ops: {
            connection: await opsConnectionFrom(opsUrl, values, terminal, onDebug),
            collectorGroups: values["collector-group"],
            all: values["ops-all"],
            caFile: values["ops-ca"],
          },
        }),
    inventories: values.inventory ?? [],
    proxies: values.proxy ?? [],
    limit: values.limit ?? [],
    onlyFailed: values["only-failed"],
    sshUser: values["ssh-user"],
    sshConfig: values["ssh-config"],
    jump: values.jump ?? [],
    become,
  };
}

/**
 * `--become`, `--become-user` and the sudo password given up front (`--become-password-stdin`,
 * else MP_SIDELOAD_BECOME_PASSWORD), registered as a secret at once. Stdin holds one secret:
 * with another `-stdin` option, a usage error. Undefined when none of them is given.
 */
async function becomeQueryOf(values: TargetValues, terminal: Terminal): Promise<BecomeQuery | undefined> {
  const other = values["registry-password-stdin"]
    ? "--registry-password-stdin"
    : values["ops-password-stdin"]
      ? "--ops-password-stdin"
      : undefined;
  if (values["become-password-stdin"] && other !== undefined) {
    throw new SideloadError("USAGE", `--become-password-stdin and ${other} both want stdin`, {
      hint: "give the sudo password as MP_SIDELOAD_BECOME_PASSWORD (or the other one through its environment variable)",
    });
  }
  let password: string | undefined;
  if (values["become-password-stdin"]) {
    password = (await terminal.readStdin()).replace(/\r?\n$/, "");
    if (password === "") {
      throw new SideloadError("CREDENTIALS_MISSING", "--become-password-stdin: stdin was empty", {
        hint: "pipe the sudo password in, e.g. from a secret store",
      });
    }
  } else password = terminal.env.MP_SIDELOAD_BECOME_PASSWORD || undefined;
  registerSecret(password);
  if (password?.includes("\n")) {
    throw new SideloadError("USAGE", "the sudo password holds a line break: sudo -S reads one line", {
      hint: "give the password alone on one line",
    });
  }
  const user = values["become-user"];
  if (user !== undefined && !isUserName(user)) {
    throw new SideloadError("USAGE", `--become-user ${quote(user)} is not a user name`, {
      hint: "e.g. --become-user root",
    });
  }
  if (!values.become && user === undefined && password === undefined) return undefined;
  return { enabled: values.become ?? false, user, password };
}

/**
 * The proxies a command's target flags name, resolved (inventory, `--limit`, VCF Operations),
 * with the SSH inputs of the run, their known_hosts file checked before any proxy is contacted.
 * `doctor` and `prune` start here; `pull` builds its typed inputs first (the wizard builds them
 * too).
 */
export async function commandProxies(
  values: TargetValues,
  images: AdapterImage[],
  terminal: Terminal,
  onDebug?: (message: string) => void,
): Promise<ResolvedProxies & { ssh: SshInputs }> {
  const resolved = await resolveProxies(
    await proxyQueryOf(values, terminal, onDebug),
    images,
    terminal.env,
    onDebug,
    (message) => terminal.err(`mp-sideload: warning: ${message}\n`),
  );
  const ssh = sshInputsOf(values);
  await checkKnownHostsFile(ssh);
  return { ...resolved, ssh };
}

/** The host key and identity flags as typed inputs. */
export function sshInputsOf(values: TargetValues): SshInputs {
  return {
    knownHostsFile: values["known-hosts"],
    acceptNewHostKeys: values["accept-new-host-keys"] ?? false,
    identities: values.identity ?? [],
  };
}

/**
 * known_hosts and the SSH connect options of a run: host keys checked against known_hosts
 * (asked about in a terminal), auth by agent, keys, then password; the SSH password and each
 * key's passphrase asked once per run however many proxies want them.
 */
export async function sshConnectSetup(
  ssh: SshInputs,
  sshUser: string,
  terminal: Terminal,
  options: {
    /** Ask about each unknown host key as it is met (false: they were asked about up front). */
    askHostKeys: boolean;
    /** Wraps each question (the live board steps aside meanwhile). */
    around?: <T>(question: () => Promise<T>) => Promise<T>;
  } = { askHostKeys: true },
): Promise<{
  knownHosts: KnownHostLine[];
  connect: Omit<ConnectOptions, "signal">;
  /** The run's SSH state (known_hosts files, identity keys), closed by `close`. */
  run: SshRunState;
  close: () => void;
}> {
  const ask = terminal.interactive ? (await import("./prompts.js")).prompts : undefined;
  const around = options.around ?? (<T>(question: () => Promise<T>) => question());
  const knownHostsFile = knownHostsFileOf(ssh.knownHostsFile, terminal.env);
  const sshPasswordEnv = terminal.env.MP_SIDELOAD_SSH_PASSWORD || undefined;
  registerSecret(sshPasswordEnv);
  const knownHosts = await loadKnownHosts(knownHostsFile);
  const connect: Omit<ConnectOptions, "signal"> = {
    hostKeys: {
      knownHostsFile,
      knownHostsExplicit: ssh.knownHostsFile !== undefined,
      acceptNew: ssh.acceptNewHostKeys,
      confirm:
        ask && options.askHostKeys
          ? (proxy, fp, type) => around(() => ask.trustHostKey(proxy.name, type, fp))
          : undefined,
    },
    auth: {
      agent: defaultAgent(terminal.env),
      identities: ssh.identities,
      defaultIdentities: defaultIdentities(terminal.env),
      password:
        sshPasswordEnv !== undefined
          ? () => Promise.resolve(sshPasswordEnv)
          : ask &&
            memo(async () => {
              const pw = await around(() => ask.sshPassword(`${sshUser}@proxies`));
              registerSecret(pw);
              return pw;
            }),
      // Asked once per key and run: the key is decrypted once and kept (auth-attempts.ts).
      passphrase: ask && ((file: string) => around(() => ask.keyPassphrase(file))),
      // Asked once per SSH user and run, only when sudo on a proxy wants a password none gave.
      becomePassword:
        ask &&
        memoBy(async (user: string) => {
          const pw = await around(() => ask.becomePassword(`${user}@proxies`));
          registerSecret(pw);
          return pw;
        }),
    },
  };
  const run = new SshRunState();
  const jumps = new JumpPool(knownHosts, { ...connect, run }, terminal.signal);
  return {
    knownHosts,
    connect: { ...connect, jumps, run },
    run,
    close: () => {
      jumps.closeAll();
      run.close();
    },
  };
}

/** A user name as the inventory accepts one (letters, digits, _.-; no spaces or options). */
function isUserName(user: string): boolean {
  try {
    checkUser(user, "--become-user");
    return true;
  } catch {
    return false;
  }
}

/**
 * Where this run's SSH credentials come from, for the plan: the agent, the keys named, the
 * default keys that exist, the password (environment, or asked at a terminal).
 */
export async function sshAuthPlanOf(ssh: SshInputs, terminal: Terminal): Promise<SshAuthPlan> {
  const defaults = await Promise.all(
    defaultIdentities(terminal.env).map((file) =>
      access(file).then(
        () => file,
        () => undefined,
      ),
    ),
  );
  return {
    agent: defaultAgent(terminal.env) !== undefined,
    identities: ssh.identities,
    defaultIdentities: defaults.filter((f): f is string => f !== undefined),
    password: terminal.env.MP_SIDELOAD_SSH_PASSWORD
      ? "environment"
      : terminal.interactive
        ? "asked"
        : undefined,
    home: homeDir(terminal.env),
  };
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
