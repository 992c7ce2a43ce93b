import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import type { AuthenticationType, ClientChannel, ConnectConfig, NextAuthHandler, SFTPWrapper } from "ssh2";
import { SideloadError, hostPort, printable, quote } from "../errors.js";
import { appendKnownHost } from "./known-hosts-file.js";
import type { Proxy } from "../inventory/proxy.js";
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
  /** Record unknown keys and go on (`StrictHostKeyChecking=accept-new`). */
  acceptNew: boolean;
  /** Ask the user about an unknown key (interactive runs only). */
  confirm?: ((proxy: Proxy, fingerprint: string, keyType: string) => Promise<boolean>) | undefined;
}

/** Where SSH credentials come from; each is asked for only when the server wants it. */
export interface SshAuthSources {
  /** ssh-agent socket (SSH_AUTH_SOCK). */
  agent?: string | undefined;
  /** Private key files tried in order (after the proxy's own identity). */
  identities: string[];
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
}

/** An authenticated SSH connection to one proxy: the one connection a job uses. */
export interface SshConnection {
  /** Open a channel to a unix socket on the proxy (OpenSSH stream-local forwarding). */
  forwardToSocket(socketPath: string): Promise<Duplex>;
  /** Run a command, feeding it `stdin` (or nothing); resolves with its output and exit code. */
  exec(command: string, stdin?: string): Promise<{ stdout: string; stderr: string; code: number | null }>;
  /** A channel running `command`, its stdin/stdout being the stream (for `docker system dial-stdio`). */
  execStream(command: string): Promise<Duplex>;
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
export function defaultIdentities(): string[] {
  return ["id_ed25519", "id_ecdsa", "id_rsa"].map((name) => join(homedir(), ".ssh", name));
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
export function connectProxy(
  proxy: Proxy,
  knownHosts: KnownHostLine[],
  options: ConnectOptions,
): Promise<SshConnection> {
  const where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
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
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    keepaliveInterval: options.keepaliveIntervalMs ?? 5_000,
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
      reject(error);
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    client.once("ready", () => {
      settled = true;
      options.signal?.removeEventListener("abort", onAbort);
      resolve(wrapConnection(client, where, () => lastMethod));
    });
    client.once("error", (error: Error & { level?: string; code?: string }) => {
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
  if (sources.agent) {
    const agent = sources.agent;
    yield (left) =>
      Promise.resolve(allowed(left, "publickey") ? { type: "agent", username, agent } : undefined);
  }
  const files = [...new Set([...(proxy.identity ? [proxy.identity] : []), ...sources.identities])];
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
