import { join } from "node:path";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import type { ClientChannel, ConnectConfig, SFTPWrapper } from "ssh2";
import { SideloadError, hostPort, printable, quote } from "../errors.js";
import { homeDir } from "../files.js";
import { authHandlerFor, checkIdentityFiles } from "./auth-attempts.js";
import { hostKeyVerifier } from "./host-key-check.js";
import { loadKnownHosts } from "./known-hosts-file.js";
import { knownKeyTypes, type KnownHostLine } from "./known-hosts.js";
import { remoteForwarder, type RemoteForward } from "./remote-forward.js";
import { SshRunState } from "./run-state.js";
import type { HostKeyPolicy, SshAuthSources, SshHop, SshTarget } from "./types.js";

const { Client } = ssh2;

export type { HostKeyPolicy, SshAuthSources } from "./types.js";

export interface ConnectOptions {
  hostKeys: HostKeyPolicy;
  auth: SshAuthSources;
  /** Abort the handshake (Ctrl-C, per-proxy timeout). */
  signal?: AbortSignal | undefined;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** Shared connections to jump hosts; required for a proxy with `jump`. */
  jumps?: JumpPool | undefined;
  /** The run's SSH state (known_hosts files, pending writes, identity keys); absent: this call's own. */
  run?: SshRunState | undefined;
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
  /** A remote forward: sshd listens on address:port of the proxy, each connection a channel here. */
  forwardIn(address: string, port: number, onConnection: (stream: Duplex) => void): Promise<RemoteForward>;
  /** The authentication method that succeeded (agent, publickey, password, keyboard-interactive). */
  readonly authMethod: string | undefined;
  /** Calls `listener` once when the connection ends for any reason; returns its removal. */
  onClose(listener: (error?: Error) => void): () => void;
  readonly closed: boolean;
  close(): void;
}

export { defaultKnownHostsFile, loadKnownHosts } from "./known-hosts-file.js";
export { checkIdentityFiles } from "./auth-attempts.js";

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
  return ["id_ed25519", "id_ecdsa", "id_rsa"].map((name) => join(homeDir(env), ".ssh", name));
}

/**
 * Connect to a proxy: verify its host key against known_hosts during key exchange (before any
 * credential is sent), then authenticate with the first method that works.
 *
 * @param knownHosts the parsed known_hosts, shared by the run (accepted keys are added to it)
 */
export async function connectProxy(
  proxy: SshTarget,
  knownHosts: KnownHostLine[],
  options: ConnectOptions,
): Promise<SshConnection> {
  const run = options.run ?? new SshRunState();
  // Key files first: a missing --identity or a FIFO given as one fails here, before any packet.
  await checkIdentityFiles([proxy], options.auth, run);
  const hostKeys = await hostKeysFor(proxy, knownHosts, options.hostKeys, run);
  const where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
  if (!proxy.jump || proxy.jump.length === 0)
    return connectOnce(proxy, hostKeys.lines, { ...options, hostKeys: hostKeys.policy, run }, where);
  if (!options.jumps) throw new Error("a proxy with jump hosts needs the connection's JumpPool");
  const sock = await options.jumps.channelTo(proxy, options.signal);
  return connectOnce(proxy, hostKeys.lines, { ...options, hostKeys: hostKeys.policy, run }, where, sock);
}

/** The known_hosts lines and policy for a proxy: its UserKnownHostsFile from the ssh config, unless --known-hosts. */
async function hostKeysFor(
  proxy: SshTarget,
  knownHosts: KnownHostLine[],
  policy: HostKeyPolicy,
  run: SshRunState,
): Promise<{ lines: KnownHostLine[]; policy: HostKeyPolicy }> {
  const acceptNew = policy.acceptNew || proxy.acceptNewHostKey === true;
  const files = proxy.knownHostsFiles;
  if (policy.knownHostsExplicit || !files || files.length === 0)
    return { lines: knownHosts, policy: { ...policy, acceptNew } };
  const key = files.join("\0");
  let lines = run.knownHostsFiles.get(key);
  if (!lines) {
    lines = Promise.all(files.map((f) => loadKnownHosts(f))).then((all) => all.flat());
    run.knownHostsFiles.set(key, lines);
  }
  return { lines: await lines, policy: { ...policy, acceptNew, knownHostsFile: files[0] as string } };
}

/**
 * One SSH connection: host key judged during key exchange (before any credential is sent),
 * then authentication; over `sock` when it goes through a jump host.
 */
function connectOnce(
  proxy: SshTarget,
  knownHosts: KnownHostLine[],
  options: ConnectOptions,
  where: string,
  sock?: Duplex,
): Promise<SshConnection> {
  const client = new Client();
  let hostKeyError: SideloadError | undefined;

  const run = options.run ?? new SshRunState();
  const hostVerifier = hostKeyVerifier(
    proxy,
    knownHosts,
    options.hostKeys,
    where,
    (error) => {
      hostKeyError = error;
    },
    run,
  );
  const auth = authHandlerFor(proxy, options.auth, run);

  const config: ConnectConfig = {
    host: proxy.host,
    port: proxy.port,
    username: proxy.user,
    ...(sock === undefined ? {} : { sock }),
    readyTimeout: proxy.connectTimeoutMs ?? options.readyTimeoutMs ?? 20_000,
    keepaliveInterval: proxy.keepaliveIntervalMs ?? options.keepaliveIntervalMs ?? 5_000,
    keepaliveCountMax: 4,
    hostVerifier,
    authHandler: auth.handler,
    algorithms: {
      serverHostKey: hostKeyAlgorithms(knownKeyTypes(knownHosts, proxy.host, proxy.port)) as never,
    },
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      fail(
        new SideloadError("INTERRUPTED", `${where}: connection aborted`, {
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
      resolve(wrapConnection(client, where, () => auth.method));
    });
    // on, not once: ssh2 can emit a second error (e.g. "Connection lost before handshake" after a
    // timeout), and an error event with no listener would crash the whole run.
    client.on("error", (error: Error & { level?: string; code?: string }) => {
      fail(hostKeyError ?? classifyConnectError(error, where, auth.describe()));
    });
    client.once("close", () => {
      fail(
        hostKeyError ??
          new SideloadError("SSH_UNREACHABLE", `${where}: the connection closed during the handshake`, {}),
      );
    });
    client.connect(config);
  });
}

function classifyConnectError(
  error: Error & { level?: string; code?: string },
  where: string,
  authTried: string,
): SideloadError {
  if (error.level === "client-authentication") {
    return new SideloadError("SSH_AUTH_FAILED", `${where}: SSH authentication failed (${authTried})`, {
      hint: "check --ssh-user, --identity, ssh-agent, or MP_SIDELOAD_SSH_PASSWORD",
    });
  }
  if (error.level === "client-timeout") {
    return new SideloadError("SSH_UNREACHABLE", `${where}: no SSH handshake within the time limit`, {
      hint: "check the address and port, and that nothing between drops SSH",
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
    },
  );
}

/**
 * Ends the connection; a peer that is gone never answers the disconnect, so its socket must not
 * hold the process. ssh2's destroy() does nothing once end() has ended the socket's writing, and a
 * peer that never closes its side (a frozen link) would keep the socket for good: destroy it too.
 */
function endClient(client: InstanceType<typeof Client>): void {
  client.end();
  setTimeout(() => {
    client.destroy();
    (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
  }, 1000).unref();
}

function wrapConnection(
  client: InstanceType<typeof Client>,
  where: string,
  authMethod: () => string | undefined,
): SshConnection {
  let closed = false;
  const listeners = new Set<(error?: Error) => void>();
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
    forwardIn: remoteForwarder(client, where),
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
      if (closed) {
        listener(lastError);
        return () => undefined;
      }
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get closed() {
      return closed;
    },
    close: () => endClient(client),
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
  async channelTo(proxy: SshTarget, signal: AbortSignal | undefined): Promise<Duplex> {
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
    chain: SshHop[],
    via: SshConnection | undefined,
    proxy: SshTarget,
    signal: AbortSignal | undefined,
  ): Promise<SshConnection> {
    const key = chain.map((h) => `${h.user}@${hostPort(h.host, h.port)}`).join(" > ");
    const existing = this.connections.get(key);
    if (existing && !(existing.connection?.closed ?? false)) return existing.promise;
    const hop = chain.at(-1) as SshHop;
    const asTarget: SshTarget = {
      name: hop.name,
      host: hop.host,
      port: hop.port,
      user: hop.user,
      identityFiles: hop.identityFiles,
    };
    const where = `jump host ${printable(hop.name)} (${hostPort(hop.host, hop.port)}) on the way to ${printable(proxy.name)}`;
    const entry = {} as { promise: Promise<SshConnection>; connection?: SshConnection };
    entry.promise = (async () => {
      const sock = via === undefined ? undefined : await via.forwardTcp(hop.host, hop.port);
      const run = this.options.run ?? new SshRunState();
      const hostKeys = await hostKeysFor(asTarget, this.knownHosts, this.options.hostKeys, run);
      // The run's signal, not one proxy's: a shared hop outlives each proxy's deadline.
      const connection = await connectOnce(
        asTarget,
        hostKeys.lines,
        { ...this.options, hostKeys: hostKeys.policy, signal: this.signal ?? signal, run },
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

/**
 * Why sshd refused to open a channel, when that is what `error` (or one of its causes) is:
 * `prohibited` (forwarding not allowed) or `failed` (nothing to connect to there, or no
 * permission). Undefined for any other error, e.g. a dropped connection.
 */
export function channelOpenFailure(error: unknown): "prohibited" | "failed" | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const reason = (e as { reason?: unknown }).reason;
    if (typeof reason === "number" && e.message.startsWith("(SSH) Channel open failure")) {
      return reason === sshOpenAdministrativelyProhibited ? "prohibited" : "failed";
    }
  }
  return undefined;
}

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254, 5.1). */
const sshOpenAdministrativelyProhibited = 1;
