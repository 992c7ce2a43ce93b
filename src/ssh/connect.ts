import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import type { AuthenticationType, ClientChannel, ConnectConfig, NextAuthHandler, SFTPWrapper } from "ssh2";
import { SideloadError, hostPort, printable, quote } from "../errors.js";
import { appendKnownHost, loadKnownHosts } from "./known-hosts-file.js";
import type { Hop, Proxy } from "../inventory/proxy.js";
import {
  fingerprint,
  judgeHostKey,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  parseKnownHosts,
  type KnownHostLine,
} from "./known-hosts.js";

const { Client, utils } = ssh2;

/** How host keys are checked; shared by every connection of a run. */
export interface HostKeyPolicy {
  knownHostsFile: string;
  /** --known-hosts was given: it wins over a proxy's UserKnownHostsFile from the ssh config. */
  knownHostsExplicit?: boolean;
  /** Record unknown keys and go on (`StrictHostKeyChecking=accept-new`). */
  acceptNew: boolean;
  /** Ask the user about an unknown key (interactive runs only). */
  confirm?: ((proxy: Proxy, fingerprint: string, keyType: string) => Promise<boolean>) | undefined;
}

/** Where SSH credentials come from; each is asked for only when the server wants it. */
export interface SshAuthSources {
  /** ssh-agent socket (SSH_AUTH_SOCK). */
  agent?: string | undefined;
  /** Private key files tried in order (after the proxy's own identity): --identity. */
  identities: string[];
  /** OpenSSH's default keys, tried last unless the ssh config names IdentityFile for the host. */
  defaultIdentities?: string[];
  /** The SSH password (env or prompt), requested lazily. */
  password?: (() => Promise<string | undefined>) | undefined;
  /** A key's passphrase (prompt), requested lazily. */
  passphrase?: ((file: string) => Promise<string | undefined>) | undefined;
}

export interface ConnectOptions {
  hostKeys: HostKeyPolicy;
  auth: SshAuthSources;
  /** Abort the handshake (Ctrl-C, per-proxy timeout). */
  signal?: AbortSignal | undefined;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** Shared connections to jump hosts; required for a proxy with `jump`. */
  jumps?: JumpPool | undefined;
}

/** An authenticated SSH connection to one proxy: the one connection a job uses. */
export interface SshConnection {
  /** Open a channel to a unix socket on the proxy (OpenSSH stream-local forwarding). */
  forwardToSocket(socketPath: string): Promise<Duplex>;
  /** Run a command, feeding it `stdin` (or nothing); resolves with its output and exit code. */
  exec(command: string, stdin?: string): Promise<{ stdout: string; stderr: string; code: number | null }>;
  /** A channel running `command`, its stdin/stdout being the stream (for `docker system dial-stdio`). */
  execStream(command: string): Promise<Duplex>;
  /** A channel to host:port as seen from the far end (direct-tcpip), e.g. the next hop. */
  forwardTcp(host: string, port: number): Promise<Duplex>;
  /** An SFTP session on this connection (closed by the caller with `end()`). */
  sftp(): Promise<SFTPWrapper>;
  /** The authentication method that succeeded (agent, publickey, password, keyboard-interactive). */
  readonly authMethod: string | undefined;
  /** Emits once when the connection ends for any reason. */
  onClose(listener: (error?: Error) => void): void;
  readonly closed: boolean;
  close(): void;
}

export { loadKnownHosts } from "./known-hosts-file.js";

/** Key exchange offers host key algorithms the client already knows for this host first. */
const defaultHostKeyAlgorithms = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

function hostKeyAlgorithms(knownTypes: string[]): string[] {
  const preferred = knownTypes.flatMap((t) =>
    t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [t],
  );
  return [
    ...new Set([
      ...preferred.filter((a) => defaultHostKeyAlgorithms.includes(a)),
      ...defaultHostKeyAlgorithms,
    ]),
  ];
}

/** Default private keys, as OpenSSH tries them. */
export function defaultIdentities(env: NodeJS.ProcessEnv = process.env): string[] {
  return ["id_ed25519", "id_ecdsa", "id_rsa"].map((name) => join(env.HOME || homedir(), ".ssh", name));
}

/** Serialises writes to known_hosts and keeps the in-memory copy in step. */
const knownHostsWrites = new Map<string, Promise<void>>();

async function recordHostKey(
  policy: HostKeyPolicy,
  lines: KnownHostLine[],
  proxy: Proxy,
  key: Buffer,
): Promise<void> {
  const previous = knownHostsWrites.get(policy.knownHostsFile) ?? Promise.resolve();
  const next = previous.then(async () => {
    const text = knownHostsLine(proxy.host, proxy.port, key, false);
    await appendKnownHost(policy.knownHostsFile, text);
    for (const line of parseKnownHosts(text)) lines.push(line);
  });
  knownHostsWrites.set(
    policy.knownHostsFile,
    next.catch(() => undefined),
  );
  return next;
}

/**
 * Connect to a proxy: verify its host key against known_hosts during key exchange (before any
 * credential is sent), then authenticate with the first method that works.
 *
 * @param knownHosts the parsed known_hosts, shared by the run (accepted keys are added to it)
 */
export async function connectProxy(
  proxy: Proxy,
  knownHosts: KnownHostLine[],
  options: ConnectOptions,
): Promise<SshConnection> {
  const hostKeys = await hostKeysFor(proxy, knownHosts, options.hostKeys);
  const where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
  if (!proxy.jump || proxy.jump.length === 0)
    return connectOnce(proxy, hostKeys.lines, { ...options, hostKeys: hostKeys.policy }, where);
  if (!options.jumps) throw new Error("a proxy with jump hosts needs the connection's JumpPool");
  const sock = await options.jumps.channelTo(proxy, options.signal);
  return connectOnce(proxy, hostKeys.lines, { ...options, hostKeys: hostKeys.policy }, where, sock);
}

/** The known_hosts lines and policy for a proxy: its UserKnownHostsFile from the ssh config, unless --known-hosts. */
async function hostKeysFor(
  proxy: Proxy,
  knownHosts: KnownHostLine[],
  policy: HostKeyPolicy,
): Promise<{ lines: KnownHostLine[]; policy: HostKeyPolicy }> {
  const acceptNew = policy.acceptNew || proxy.acceptNewHostKey === true;
  const files = proxy.knownHostsFiles;
  if (policy.knownHostsExplicit || !files || files.length === 0)
    return { lines: knownHosts, policy: { ...policy, acceptNew } };
  const key = files.join("\0");
  let lines = knownHostsBook.get(key);
  if (!lines) {
    lines = Promise.all(files.map((f) => loadKnownHosts(f))).then((all) => all.flat());
    knownHostsBook.set(key, lines);
  }
  return { lines: await lines, policy: { ...policy, acceptNew, knownHostsFile: files[0] as string } };
}

/** known_hosts files named by ssh configurations, read once per run (and added to as keys are accepted). */
const knownHostsBook = new Map<string, Promise<KnownHostLine[]>>();

/**
 * One SSH connection: host key judged during key exchange (before any credential is sent),
 * then authentication; over `sock` when it goes through a jump host.
 */
function connectOnce(
  proxy: Proxy,
  knownHosts: KnownHostLine[],
  options: ConnectOptions,
  where: string,
  sock?: Duplex,
): Promise<SshConnection> {
  const client = new Client();
  let hostKeyError: SideloadError | undefined;
  let authAttempted = false;
  /** The last method offered: the one that succeeded once the connection is ready. */
  let lastMethod: string | undefined;

  const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
    const judged = judgeHostKey(knownHosts, proxy.host, proxy.port, key);
    const fp = fingerprint(key);
    const type = keyTypeOf(key);
    if (judged.verdict === "known") return verify(true);
    if (judged.verdict === "revoked") {
      hostKeyError = new SideloadError(
        "HOSTKEY_REVOKED",
        `${where} presented a revoked host key (${type} ${fp})`,
        {
          hint: `${options.hostKeys.knownHostsFile} line ${judged.line} marks this key @revoked; do not connect until the proxy's keys are replaced`,
          exitStatus: 1,
        },
      );
      return verify(false);
    }
    if (judged.verdict === "changed") {
      hostKeyError = new SideloadError(
        "HOSTKEY_MISMATCH",
        `${where} presented host key ${type} ${fp}, which is NOT the one in known_hosts: possible man-in-the-middle; nothing was sent`,
        {
          hint: `if the proxy was really re-installed, remove its old key (ssh-keygen -R '${proxy.port === 22 ? proxy.host : `[${proxy.host}]:${proxy.port}`}' -f ${options.hostKeys.knownHostsFile}, line ${judged.line}) after checking the new fingerprint out of band`,
          exitStatus: 1,
        },
      );
      return verify(false);
    }
    const decide = async (): Promise<boolean> => {
      if (options.hostKeys.acceptNew) return true;
      if (options.hostKeys.confirm) return options.hostKeys.confirm(proxy, fp, type);
      return false;
    };
    decide()
      .then(async (accepted) => {
        if (!accepted) {
          hostKeyError = new SideloadError(
            "HOSTKEY_UNKNOWN",
            `${where} is not in ${options.hostKeys.knownHostsFile} (it presented ${type} ${fp}); nothing was sent`,
            {
              hint: "check the fingerprint out of band, then add it (ssh-keyscan, or one interactive ssh) or pass --accept-new-host-keys",
              exitStatus: 1,
            },
          );
          return verify(false);
        }
        await recordHostKey(options.hostKeys, knownHosts, proxy, key);
        verify(true);
      })
      .catch((error: unknown) => {
        hostKeyError = new SideloadError(
          "FILE_UNREADABLE",
          `cannot record the host key of ${where}: ${(error as Error).message}`,
          {
            hint: `check that ${options.hostKeys.knownHostsFile} is writable`,
            exitStatus: 1,
          },
        );
        verify(false);
      });
  };

  const attempts = authAttempts(proxy, options.auth);
  const authHandler = (
    methodsLeft: AuthenticationType[] | null,
    _partial: boolean | null,
    next: NextAuthHandler,
  ): void => {
    authAttempted = true;
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
        lastMethod = method === false ? undefined : (method as { type: string }).type;
        next(method as Parameters<NextAuthHandler>[0]);
      },
      () => next(false as unknown as Parameters<NextAuthHandler>[0]),
    );
  };

  const config: ConnectConfig = {
    host: proxy.host,
    port: proxy.port,
    username: proxy.user,
    ...(sock === undefined ? {} : { sock }),
    readyTimeout: proxy.connectTimeoutMs ?? options.readyTimeoutMs ?? 20_000,
    keepaliveInterval: proxy.keepaliveIntervalMs ?? options.keepaliveIntervalMs ?? 5_000,
    keepaliveCountMax: 4,
    hostVerifier,
    authHandler,
    algorithms: {
      serverHostKey: hostKeyAlgorithms(knownKeyTypes(knownHosts, proxy.host, proxy.port)) as never,
    },
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      fail(
        new SideloadError("INTERRUPTED", `${where}: connection aborted`, {
          exitStatus: 1,
          cause: options.signal?.reason,
        }),
      );
    };
    const fail = (error: SideloadError) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener("abort", onAbort);
      // destroy, not end: before the handshake completes, end() leaves the socket open (and
      // the process alive) when the peer never answers.
      client.destroy();
      sock?.destroy();
      reject(error);
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    client.once("ready", () => {
      settled = true;
      options.signal?.removeEventListener("abort", onAbort);
      resolve(wrapConnection(client, where, () => lastMethod));
    });
    // on, not once: ssh2 can emit a second error (e.g. "Connection lost before handshake" after a
    // timeout), and an error event with no listener would crash the whole run.
    client.on("error", (error: Error & { level?: string; code?: string }) => {
      fail(hostKeyError ?? classifyConnectError(error, where, authAttempted));
    });
    client.once("close", () => {
      fail(
        hostKeyError ??
          new SideloadError("SSH_UNREACHABLE", `${where}: the connection closed during the handshake`, {
            exitStatus: 1,
          }),
      );
    });
    client.connect(config);
  });
}

function classifyConnectError(
  error: Error & { level?: string; code?: string },
  where: string,
  authAttempted: boolean,
): SideloadError {
  if (error.level === "client-authentication") {
    return new SideloadError(
      "SSH_AUTH_FAILED",
      `${where}: SSH authentication failed (tried: ${authAttempted ? "all available methods" : "none"})`,
      {
        hint: "check --ssh-user, --identity, ssh-agent, or MP_SIDELOAD_SSH_PASSWORD",
        exitStatus: 1,
      },
    );
  }
  if (error.level === "client-timeout") {
    return new SideloadError("SSH_UNREACHABLE", `${where}: no SSH handshake within the time limit`, {
      hint: "check the address and port, and that nothing between drops SSH",
      exitStatus: 1,
    });
  }
  const code = error.code ?? "";
  const why: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ETIMEDOUT: "connection timed out",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ENOTFOUND: "host name not found",
    EAI_AGAIN: "host name lookup failed",
    ECONNRESET: "connection reset",
  };
  return new SideloadError(
    "SSH_UNREACHABLE",
    `${where}: ${why[code] ?? `cannot connect (${error.message})`}`,
    {
      hint: "check that the proxy is up, sshd runs, and the host and port are right",
      exitStatus: 1,
    },
  );
}

type Attempt = (methodsLeft: AuthenticationType[] | null) => Promise<unknown>;

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
      let key: Buffer;
      try {
        key = await readFile(file);
      } catch {
        return undefined; // a default identity that does not exist
      }
      let passphrase: string | undefined;
      let parsed = utils.parseKey(key);
      if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message) && sources.passphrase) {
        passphrase = await sources.passphrase(file);
        if (passphrase === undefined) return undefined;
        parsed = utils.parseKey(key, passphrase);
      }
      if (parsed instanceof Error) return undefined;
      return { type: "publickey", username, key, passphrase };
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

function wrapConnection(
  client: InstanceType<typeof Client>,
  where: string,
  authMethod: () => string | undefined,
): SshConnection {
  let closed = false;
  const listeners: ((error?: Error) => void)[] = [];
  let lastError: Error | undefined;
  client.on("error", (error: Error) => {
    lastError = error;
  });
  client.once("close", () => {
    closed = true;
    for (const listener of listeners) listener(lastError);
  });
  const channelError = (what: string, error: Error) =>
    new SideloadError("SSH_DISCONNECTED", `${where}: cannot open ${what} (${error.message})`, {
      exitStatus: 1,
      cause: error,
    });
  return {
    forwardToSocket: (socketPath) =>
      new Promise((resolve, reject) => {
        client.openssh_forwardOutStreamLocal(
          socketPath,
          (error: Error | undefined, channel: ClientChannel) =>
            error ? reject(channelError(`a channel to ${quote(socketPath)}`, error)) : resolve(channel),
        );
      }),
    exec: (command, stdin) =>
      new Promise((resolve, reject) => {
        client.exec(command, (error: Error | undefined, channel: ClientChannel) => {
          if (error) return reject(channelError(`a session`, error));
          const out: Buffer[] = [];
          const err: Buffer[] = [];
          channel.on("data", (d: Buffer) => out.push(d));
          channel.stderr.on("data", (d: Buffer) => err.push(d));
          channel.once("close", (code: number | null) =>
            resolve({
              stdout: Buffer.concat(out).toString("utf8"),
              stderr: Buffer.concat(err).toString("utf8"),
              code,
            }),
          );
          channel.end(stdin);
        });
      }),
    forwardTcp: (host, port) =>
      new Promise((resolve, reject) => {
        client.forwardOut("127.0.0.1", 0, host, port, (error: Error | undefined, channel: ClientChannel) =>
          error ? reject(channelError(`a channel to ${hostPort(host, port)}`, error)) : resolve(channel),
        );
      }),
    sftp: () =>
      new Promise((resolve, reject) => {
        client.sftp((error: Error | undefined, sftp: SFTPWrapper) =>
          error ? reject(channelError("an SFTP session", error)) : resolve(sftp),
        );
      }),
    get authMethod() {
      return authMethod();
    },
    execStream: (command) =>
      new Promise((resolve, reject) => {
        client.exec(command, (error: Error | undefined, channel: ClientChannel) =>
          error ? reject(channelError(`a session for ${quote(command)}`, error)) : resolve(channel),
        );
      }),
    onClose: (listener) => {
      if (closed) listener(lastError);
      else listeners.push(listener);
    },
    get closed() {
      return closed;
    },
    close: () => {
      client.end();
      // A peer that is gone never answers the disconnect: do not let its socket hold the process.
      setTimeout(() => client.destroy(), 1000).unref();
    },
  };
}

/**
 * Connections to jump hosts, shared by every proxy behind them: 50 proxies behind one bastion
 * open 1 + 50 connections, each proxy's being a channel of the bastion's. Each hop's host key
 * is checked against known_hosts before anything is sent to it, like a proxy's, and errors name
 * the hop. A hop whose connection dropped is connected again on next use.
 */
export class JumpPool {
  private readonly connections = new Map<
    string,
    { promise: Promise<SshConnection>; connection?: SshConnection }
  >();

  constructor(
    private readonly knownHosts: KnownHostLine[],
    private readonly options: Omit<ConnectOptions, "signal" | "jumps">,
    private readonly signal?: AbortSignal,
  ) {}

  /** A channel to `proxy` through its hops (each hop through the one before). */
  async channelTo(proxy: Proxy, signal: AbortSignal | undefined): Promise<Duplex> {
    const hops = proxy.jump ?? [];
    let via: SshConnection | undefined;
    for (let i = 0; i < hops.length; i++) via = await this.hop(hops.slice(0, i + 1), via, proxy, signal);
    if (!via) throw new Error("no hop");
    return via.forwardTcp(proxy.host, proxy.port);
  }

  /** Close every jump connection (the end of a run). */
  closeAll(): void {
    for (const entry of this.connections.values()) entry.connection?.close();
    this.connections.clear();
  }

  private hop(
    chain: Hop[],
    via: SshConnection | undefined,
    proxy: Proxy,
    signal: AbortSignal | undefined,
  ): Promise<SshConnection> {
    const key = chain.map((h) => `${h.user}@${hostPort(h.host, h.port)}`).join(" > ");
    const existing = this.connections.get(key);
    if (existing && !(existing.connection?.closed ?? false)) return existing.promise;
    const hop = chain.at(-1) as Hop;
    const asProxy: Proxy = {
      name: hop.name,
      host: hop.host,
      port: hop.port,
      user: hop.user,
      groups: [],
      identityFiles: hop.identityFiles,
    };
    const where = `jump host ${printable(hop.name)} (${hostPort(hop.host, hop.port)}) on the way to ${printable(proxy.name)}`;
    const entry = {} as { promise: Promise<SshConnection>; connection?: SshConnection };
    entry.promise = (async () => {
      const sock = via === undefined ? undefined : await via.forwardTcp(hop.host, hop.port);
      const hostKeys = await hostKeysFor(asProxy, this.knownHosts, this.options.hostKeys);
      // The run's signal, not one proxy's: a shared hop outlives each proxy's deadline.
      const connection = await connectOnce(
        asProxy,
        hostKeys.lines,
        { ...this.options, hostKeys: hostKeys.policy, signal: this.signal ?? signal },
        where,
        sock,
      );
      entry.connection = connection;
      return connection;
    })();
    entry.promise.catch(() => {
      if (this.connections.get(key) === entry) this.connections.delete(key);
    });
    this.connections.set(key, entry);
    return entry.promise;
  }
}
