/**
 * One proxy's session: its SSH connection, its Docker Engine reached through it, and the files
 * mp-sideload may touch there (a registry CA). `pull`, `verify` and `doctor` all go through it;
 * tests of the step rules replace it with a fake (`Session`).
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type { SFTPWrapper } from "ssh2";
import { SideloadError } from "../errors.js";
import { adapterContainers, type AdapterContainer } from "../engine/containers.js";
import { preloadDockerode } from "../engine/dockerode.js";
import { freeBytesUnder } from "../engine/disk-full.js";
import {
  Engine,
  type EngineImage,
  type EngineImages,
  type PullOptions,
  type PullProgress,
} from "../engine/engine.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import type { EngineTransport } from "../engine/ssh-agent.js";
import type { Proxy } from "../inventory/proxy.js";
import type { ImageReference } from "../reference.js";
import { channelOpenFailure, connectProxy, type ConnectOptions, type SshConnection } from "../ssh/connect.js";
import type { KnownHostLine } from "../ssh/known-hosts.js";
import type { RemoteForward } from "../ssh/remote-forward.js";
import {
  becomeError,
  establishSudo,
  shellQuote,
  sudoCommand,
  sudoPreamble,
  sudoRefusal,
  type SudoAccess,
} from "../ssh/sudo.js";

/** The socket every Docker Engine listens on unless told otherwise; a cloud proxy's runtime uses it. */
export const defaultDockerSocket = "/var/run/docker.sock";

/**
 * Where a proxy's engine was found, and how it is reached. `socket` is a unix socket path, or
 * (from a TCP or SSH `DOCKER_HOST`) what only the docker CLI on the proxy can follow.
 */
export interface EngineEndpoint {
  socket: string;
  /** The inventory's `dockerSocket`, the default socket, or the proxy's `DOCKER_HOST`. */
  source: "inventory" | "default" | "DOCKER_HOST";
  transport?: EngineTransport | undefined;
  /** `-H` for `docker system dial-stdio`, when the socket must be named to the CLI. */
  dialStdioHost?: string | undefined;
}

/** How the session became another user on the proxy (become), for doctor. */
export interface BecomeMethod {
  method: "sudo";
  user: string;
  /** sudo wanted a password (fed on each channel's stdin); else NOPASSWD. */
  withPassword: boolean;
}

/** What a script run on the proxy gave back. */
export interface ScriptResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** What became of the registry CA on a proxy. */
export type CaOutcome = "installed" | "unchanged";

/**
 * The operations the per-proxy steps need; one owner (the frame) closes it. The connection and
 * the engine stay inside: a step asks the session, never reaches around it.
 */
export interface Session extends EngineImages {
  /** Open the SSH connection (host key checked, then authentication). */
  connect(): Promise<void>;
  /**
   * Find the engine and prove it answers (`GET /version`). `whileWaiting` is called as soon as
   * an engine can take requests, so that independent ones start together with `/version`; it is
   * called again if that engine turns out not to be there (their requests then failed).
   */
  startEngine(whileWaiting?: () => void): Promise<{ version: string; apiVersion: string }>;
  readonly transport: EngineTransport | undefined;
  /** With become: how, once sudo was asked (by `startEngine` or a CA call). */
  readonly become?: BecomeMethod | undefined;
  /** The engine in use, once `startEngine` has found it. */
  readonly endpoint: EngineEndpoint | undefined;
  /** The SSH user's DOCKER_HOST on the proxy, "" when unset (a session of its own). */
  dockerHost(): Promise<string>;
  /** How SSH authenticated (`publickey`, `password`…), once connected. */
  readonly authMethod: string | undefined;
  /** The SSH connection is gone (or was never opened). */
  readonly closed: boolean;
  /** `GET /info`: where the engine keeps its data, and its clock (`raw`: all of it, for the relay). */
  info(): Promise<{ rootDir: string; systemTime: string; raw: Record<string, unknown> }>;
  /** Free bytes under the engine's data root `rootDir` (`df`); undefined when it cannot tell. */
  freeBytesUnder(rootDir: string): Promise<number | undefined>;
  /** Make `/etc/docker/certs.d/<registry>/ca.crt` hold `pem`, writing only if it differs. */
  installCa(registry: string, pem: string): Promise<CaOutcome>;
  /** The current `/etc/docker/certs.d/<registry>/ca.crt`, or undefined when there is none. */
  readCa(registry: string): Promise<string | undefined>;
  hasReference(reference: string): Promise<boolean>;
  repoDigests(reference: string): Promise<string[] | undefined>;
  login(auth: RegistryAuth): Promise<void>;
  /** `options.stallTimeoutMs`: fail with PULL_STALLED when nothing moves for that long. */
  pull(
    target: ImageReference,
    auth: RegistryAuth | undefined,
    onProgress: (p: PullProgress) => void,
    options?: Pick<PullOptions, "stallTimeoutMs">,
  ): Promise<void>;
  /**
   * Run the sh `script` with `args` (each one quoted word) as the become user when become is on,
   * else as the SSH user; `stdin` follows sudo's password line. Nothing secret is on the line.
   */
  execScript(script: string, args: string[], stdin?: string): Promise<ScriptResult>;
  /** `pull --relay`: a remote forward on the proxy (sshd listens there; each connection a channel here). */
  forwardIn(address: string, port: number, onConnection: (stream: Duplex) => void): Promise<RemoteForward>;
  /** A channel running `command` as the SSH user (the relay's keeper). */
  execStream(command: string): Promise<Duplex>;
  /** The containers created from exactly `reference`, with an exited one's code and last log lines. */
  adapterContainers(reference: string): Promise<AdapterContainer[]>;
  /** Whether the transport not in use would work too (doctor); closes what it opened. */
  probeOtherTransport(): Promise<{ transport: EngineTransport; error?: unknown }>;
  /** Close the connection and every channel on it; safe to call twice. */
  close(): void;
}

export interface SessionOptions {
  knownHosts: KnownHostLine[];
  connect: Omit<ConnectOptions, "signal">;
  /** Ends every call of the session. */
  signal: AbortSignal;
  /** Messages name the proxy this way. */
  where: string;
  /** The engine an earlier session of this proxy found: used again without looking. */
  endpoint?: EngineEndpoint | undefined;
}

/** Opens sessions; the seam the step tests replace. */
export type OpenSession = (proxy: Proxy, options: SessionOptions) => Session;

/** The real session: ssh2 for the connection, dockerode over its channels for the engine. */
export const openProxySession: OpenSession = (proxy, options) => new ProxySession(proxy, options);

class ProxySession implements Session {
  private ssh: SshConnection | undefined;
  private docker: Engine | undefined;
  private found: EngineEndpoint | undefined;
  /** With become: how sudo lets the SSH user in, asked once per connection. */
  private sudo: Promise<SudoAccess> | undefined;
  private sudoFound: SudoAccess | undefined;

  constructor(
    private readonly proxy: Proxy,
    private readonly options: SessionOptions,
  ) {
    this.found = options.endpoint;
  }

  private get connection(): SshConnection {
    if (!this.ssh) throw this.closedError();
    return this.ssh;
  }

  private get engine(): Engine {
    if (!this.docker) throw this.closedError();
    return this.docker;
  }

  get authMethod(): string | undefined {
    return this.ssh?.authMethod;
  }

  get closed(): boolean {
    return this.ssh?.closed ?? true;
  }

  info(): Promise<{ rootDir: string; systemTime: string; raw: Record<string, unknown> }> {
    return this.engine.info();
  }

  freeBytesUnder(rootDir: string): Promise<number | undefined> {
    return freeBytesUnder(this.connection, rootDir, this.options.signal);
  }

  listImages(): Promise<EngineImage[]> {
    return this.engine.listImages();
  }

  adapterContainers(reference: string): Promise<AdapterContainer[]> {
    return adapterContainers(this.engine, reference);
  }

  containerImageIds(): Promise<Set<string>> {
    return this.engine.containerImageIds();
  }

  removeImageName(name: string): Promise<{ untagged: string[]; deleted: string[] }> {
    return this.engine.removeImageName(name);
  }

  get transport(): EngineTransport | undefined {
    return this.docker?.transport ?? this.found?.transport;
  }

  get become(): BecomeMethod | undefined {
    const found = this.sudoFound;
    return found && { method: "sudo", user: found.user, withPassword: found.mode === "password" };
  }

  /**
   * With become on for this proxy: how sudo lets the SSH user become its user (root by
   * default), asked once per connection; undefined without become.
   */
  private async becomeAccess(): Promise<SudoAccess | undefined> {
    const become = this.proxy.become;
    if (become?.enabled !== true) return undefined;
    const ask = this.options.connect.auth.becomePassword;
    this.sudo ??= establishSudo(
      this.connection,
      {
        user: become.user ?? "root",
        password: become.password,
        askPassword: ask && (() => ask(this.proxy.user)),
      },
      { where: this.options.where, sshUser: this.proxy.user },
    );
    this.sudoFound = await this.sudo;
    return this.sudoFound;
  }

  get endpoint(): EngineEndpoint | undefined {
    return this.found && { ...this.found, transport: this.transport };
  }

  async connect(): Promise<void> {
    // dockerode's load (~150 ms of CPU) runs while the handshake waits on the network.
    preloadDockerode();
    this.ssh = await connectProxy(this.proxy, this.options.knownHosts, {
      ...this.options.connect,
      signal: this.options.signal,
    });
  }

  /**
   * The inventory's socket when it names one. Else the default socket, the engine a cloud
   * proxy's own runtime installs from, asked through a stream-local channel that the requests
   * need anyway: no session just to look. Only when sshd cannot open it (nothing listens there,
   * or forwarding is off: OpenSSH says "open failed" to both) does a session read the proxy's
   * `DOCKER_HOST`; a server that says "prohibited" goes straight to `docker system dial-stdio`,
   * which follows the proxy's `DOCKER_HOST` unasked.
   */
  async startEngine(whileWaiting?: () => void): Promise<{ version: string; apiVersion: string }> {
    if (this.found === undefined && this.proxy.dockerSocket !== undefined) {
      const socket = this.proxy.dockerSocket;
      this.found = { socket, source: "inventory", dialStdioHost: `unix://${socket}` };
    }
    // Through sudo only dial-stdio can run as root; sudo resets the environment, so the docker
    // CLI there follows root's settings, not the SSH user's DOCKER_HOST.
    if ((await this.becomeAccess()) !== undefined) {
      const endpoint = this.found ?? { socket: defaultDockerSocket, source: "default" };
      return this.answer({ ...endpoint, transport: "dial-stdio" }, whileWaiting);
    }
    if (this.found !== undefined) return this.answer(this.found, whileWaiting);
    const guess: EngineEndpoint = {
      socket: defaultDockerSocket,
      source: "default",
      transport: "stream-local",
    };
    let refusal: "prohibited" | "failed";
    try {
      return await this.answer(guess, whileWaiting);
    } catch (error) {
      const reason = channelOpenFailure(error);
      if (reason === undefined || this.options.signal.aborted) throw error;
      refusal = reason;
      this.docker?.close();
      this.docker = undefined;
    }
    if (refusal === "prohibited") {
      return this.answer(
        { socket: defaultDockerSocket, source: "default", transport: "dial-stdio" },
        whileWaiting,
      );
    }
    const dockerHost = await this.dockerHost();
    if (dockerHost.startsWith("unix://")) {
      const socket = dockerHost.slice("unix://".length);
      return this.answer({ socket, source: "DOCKER_HOST" }, whileWaiting);
    }
    // A TCP or SSH DOCKER_HOST: only the docker CLI on the proxy can follow it. With none, the
    // CLI reports why the default socket cannot be used (e.g. permission).
    return this.answer(
      dockerHost === ""
        ? { socket: defaultDockerSocket, source: "default", transport: "dial-stdio" }
        : { socket: dockerHost, source: "DOCKER_HOST", transport: "dial-stdio" },
      whileWaiting,
    );
  }

  async dockerHost(): Promise<string> {
    return (await this.connection.exec("printenv DOCKER_HOST")).stdout.trim();
  }

  /** Use `endpoint`'s engine, start the requests that may go with `/version`, and wait for it. */
  private async answer(
    endpoint: EngineEndpoint,
    whileWaiting: (() => void) | undefined,
  ): Promise<{ version: string; apiVersion: string }> {
    this.found = endpoint;
    this.docker?.close(); // an engine asked again (after a restart) leaves no channel behind
    this.docker = new Engine(
      this.connection,
      endpoint.socket,
      this.options.where,
      endpoint.transport,
      endpoint.dialStdioHost,
      this.options.signal,
      this.sudoFound && { ...this.sudoFound, sshUser: this.proxy.user },
    );
    const answered = this.docker.version();
    // Requests that do not depend on /version's answer go out now, on channels of their own.
    whileWaiting?.();
    const version = await answered;
    this.found = { ...endpoint, transport: this.docker.transport };
    return version;
  }

  hasReference(reference: string): Promise<boolean> {
    return this.engine.hasReference(reference);
  }

  repoDigests(reference: string): Promise<string[] | undefined> {
    return this.engine.repoDigests(reference);
  }

  login(auth: RegistryAuth): Promise<void> {
    return this.engine.login(auth);
  }

  pull(
    target: ImageReference,
    auth: RegistryAuth | undefined,
    onProgress: (p: PullProgress) => void,
    options: Pick<PullOptions, "stallTimeoutMs"> = {},
  ): Promise<void> {
    return this.engine.pull(target, auth, onProgress, { ...options, signal: this.options.signal });
  }

  forwardIn(address: string, port: number, onConnection: (stream: Duplex) => void): Promise<RemoteForward> {
    return this.connection.forwardIn(address, port, onConnection);
  }

  execStream(command: string): Promise<Duplex> {
    return this.connection.execStream(command);
  }

  async execScript(script: string, args: string[], stdin = ""): Promise<ScriptResult> {
    const command = `sh -c ${shellQuote(script)} sh ${args.map(shellQuote).join(" ")}`;
    const sudo = await this.becomeAccess();
    if (sudo === undefined) return this.connection.exec(command, stdin);
    const result = await this.connection.exec(sudoCommand(sudo, command), sudoPreamble(sudo) + stdin);
    const refusal = result.code === 0 ? undefined : sudoRefusal(result.stderr);
    if (refusal !== undefined) {
      throw becomeError(this.options.where, this.proxy.user, sudo, refusal, result.stderr.trim());
    }
    return result;
  }

  async probeOtherTransport(): Promise<{ transport: EngineTransport; error?: unknown }> {
    if (this.sudoFound !== undefined) {
      const error = new Error("a stream-local forward runs as the SSH user: become needs sudo");
      return { transport: "stream-local", error };
    }
    const transport: EngineTransport = this.transport === "dial-stdio" ? "stream-local" : "dial-stdio";
    const { socket, dialStdioHost } = this.found ?? { socket: defaultDockerSocket };
    const other = new Engine(
      this.connection,
      socket,
      this.options.where,
      transport,
      dialStdioHost,
      this.options.signal,
    );
    try {
      await other.version();
      return { transport };
    } catch (error) {
      return { transport, error };
    } finally {
      other.close();
    }
  }

  async readCa(registry: string): Promise<string | undefined> {
    const sudo = await this.becomeAccess();
    if (sudo !== undefined) return this.readCaWithSudo(sudo, registry);
    const sftp = await this.sftp();
    try {
      return await readIfPresent(sftp, caPath(registry));
    } finally {
      sftp.end();
    }
  }

  /**
   * Through SFTP on the same connection: read the current file; if it differs, write a
   * temporary file in the same folder (mode 0644) and rename it over, so the engine (which
   * reads the folder per request: no restart) never sees half a certificate. Other files in
   * the folder are never touched.
   */
  async installCa(registry: string, pem: string): Promise<CaOutcome> {
    const sudo = await this.becomeAccess();
    if (sudo !== undefined) return this.installCaWithSudo(sudo, registry, pem);
    const sftp = await this.sftp();
    const file = caPath(registry);
    const dir = file.slice(0, file.lastIndexOf("/"));
    const temporary = `${dir}/.ca.crt.mp-sideload-${randomBytes(6).toString("hex")}`;
    try {
      if ((await readIfPresent(sftp, file)) === pem) return "unchanged";
      for (const folder of ["/etc/docker", "/etc/docker/certs.d", dir]) await mkdirIfAbsent(sftp, folder);
      await call<void>((cb) => sftp.writeFile(temporary, pem, { mode: 0o644 }, cb));
      await call<void>((cb) => sftp.chmod(temporary, 0o644, cb)); // the server's umask may narrow it
      await call<void>((cb) => sftp.ext_openssh_rename(temporary, file, cb));
      return "installed";
    } catch (error) {
      await call<void>((cb) => sftp.unlink(temporary, cb)).catch(() => undefined);
      throw new SideloadError(
        "REGISTRY_CA_FAILED",
        `${this.options.where}: cannot install ${file} (${(error as Error).message})`,
        {
          hint: "installing a registry CA needs root on the proxy (--ssh-user root)",
          cause: error,
        },
      );
    } finally {
      sftp.end();
    }
  }

  /** The current CA through sudo: `cat` as the become user; exit 3 from the shell: no file. */
  private async readCaWithSudo(sudo: SudoAccess, registry: string): Promise<string | undefined> {
    const script = `if [ -e "$1" ]; then exec cat -- "$1"; else exit 3; fi`;
    const read = await this.connection.exec(
      sudoCommand(sudo, `sh -c ${shellQuote(script)} sh ${shellQuote(caPath(registry))}`),
      sudoPreamble(sudo),
    );
    if (read.code === 3) return undefined;
    if (read.code === 0) return read.stdout;
    throw this.sudoCaError(sudo, "read", caPath(registry), read.stderr);
  }

  /**
   * As `installCa` over SFTP, through sudo: the PEM follows the password line on stdin, into a
   * temporary file in the same folder (umask 022: 0644) renamed over the old one.
   */
  private async installCaWithSudo(sudo: SudoAccess, registry: string, pem: string): Promise<CaOutcome> {
    if ((await this.readCaWithSudo(sudo, registry)) === pem) return "unchanged";
    const file = caPath(registry);
    const script = [
      `umask 022; t="$1/.ca.crt.mp-sideload-$$"`,
      `mkdir -p -- "$1" && cat > "$t" && chmod 644 "$t" && mv -f -- "$t" "$1/ca.crt" && exit 0`,
      `rm -f -- "$t"; exit 1`,
    ].join("; ");
    const dir = file.slice(0, file.lastIndexOf("/"));
    const written = await this.connection.exec(
      sudoCommand(sudo, `sh -c ${shellQuote(script)} sh ${shellQuote(dir)}`),
      sudoPreamble(sudo) + pem,
    );
    if (written.code !== 0) throw this.sudoCaError(sudo, "install", file, written.stderr);
    return "installed";
  }

  private sudoCaError(sudo: SudoAccess, what: string, file: string, stderr: string): SideloadError {
    const refusal = sudoRefusal(stderr);
    if (refusal !== undefined) {
      return becomeError(this.options.where, this.proxy.user, sudo, refusal, stderr.trim());
    }
    return new SideloadError(
      "REGISTRY_CA_FAILED",
      `${this.options.where}: cannot ${what} ${file} as ${sudo.user} through sudo (${stderr.trim() || "no message"})`,
      { hint: `check that ${sudo.user} may write /etc/docker/certs.d on the proxy` },
    );
  }

  close(): void {
    this.docker?.close();
    this.ssh?.close();
    this.docker = undefined;
    this.ssh = undefined;
    this.sudo = undefined;
  }

  private sftp(): Promise<SFTPWrapper> {
    return this.connection.sftp();
  }

  private closedError(): SideloadError {
    return new SideloadError("SSH_DISCONNECTED", `${this.options.where}: the connection is closed`, {});
  }
}

/** `registry` passed the reference grammar (host[:port] characters only): a safe path part. */
export function caPath(registry: string): string {
  return `/etc/docker/certs.d/${registry}/ca.crt`;
}

function call<T>(run: (callback: (error: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    run((error, value) => (error ? reject(error) : resolve(value as T))),
  );
}

const noSuchFile = 2; // SFTP status code

async function readIfPresent(sftp: SFTPWrapper, file: string): Promise<string | undefined> {
  try {
    const data = await call<Buffer>((cb) => sftp.readFile(file, cb));
    return data.toString("utf8");
  } catch (error) {
    if ((error as { code?: number }).code === noSuchFile) return undefined;
    throw error;
  }
}

async function mkdirIfAbsent(sftp: SFTPWrapper, folder: string): Promise<void> {
  try {
    await call<unknown>((cb) => sftp.stat(folder, cb));
  } catch (error) {
    if ((error as { code?: number }).code !== noSuchFile) throw error;
    await call<void>((cb) => sftp.mkdir(folder, { mode: 0o755 }, cb));
  }
}
