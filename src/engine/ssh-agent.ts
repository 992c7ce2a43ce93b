import http from "node:http";
import type { Duplex } from "node:stream";
import { inspect } from "node:util";
import type { SshConnection } from "../ssh/connect.js";
import { sudoCommand, sudoPreamble, type SudoAccess } from "../ssh/sudo.js";

/** How the engine is reached through the proxy's SSH connection. */
export type EngineTransport = "stream-local" | "dial-stdio";

/**
 * The most an answer that is read whole may bring (JSON answers; error bodies, which dockerode
 * reads whole whatever their size): counted on the channel as the bytes arrive, whatever a header
 * says. The pull's stream is exempt once it is known to be one (`streamAnswer`): its reader keeps
 * only a bounded line.
 */
export const answerCapBytes = 16 * 1024 * 1024;

/** What the answer in progress on a channel has brought, and whether the cap applies to it. */
interface AnswerBudget {
  received: number;
  capped: boolean;
}

/**
 * An HTTP agent whose sockets are channels of one SSH connection, so that every Docker Engine
 * API call rides the proxy's single authenticated connection: one handshake per proxy, not one
 * per request (dockerode's own `ssh` protocol opens a new connection per request). dockerode takes
 * it through docker-modem's `agent` option.
 *
 * Channels are stream-local forwards to the engine's unix socket when sshd allows it, else
 * channels running `docker system dial-stdio`, which costs a docker CLI start per channel.
 *
 * With `sudo` (become), every channel is `sudo … docker system dial-stdio`: sshd opens a
 * stream-local forward as the SSH user, and nothing can run it as another. A single sudo'd relay
 * (`socat`, `nc -U`) would save the CLI start, but neither is on a cloud proxy appliance, while
 * the docker CLI is on every engine host; each channel is its own sudo, and gets its own
 * password line before any HTTP byte.
 */
export class SshEngineAgent extends http.Agent {
  private transport: EngineTransport | undefined;
  /** What the last dial-stdio channel wrote on stderr: explains a refused engine. */
  lastStderr = "";
  private readonly budgets = new WeakMap<Duplex, AnswerBudget>();
  private capError: Error | undefined;

  /**
   * @param socketPath the engine's unix socket on the proxy, for stream-local forwarding
   * @param dialStdioHost `-H` for `docker system dial-stdio` when the socket was set explicitly
   *   (else the CLI on the proxy follows its own DOCKER_HOST); a checked plain path
   */
  constructor(
    private readonly connection: SshConnection,
    private readonly socketPath: string,
    preferred?: EngineTransport,
    private readonly dialStdioHost?: string,
    /** Run dial-stdio through sudo (become): the only transport then. */
    private readonly sudo?: SudoAccess,
  ) {
    super({ keepAlive: true, maxSockets: 4 });
    this.transport = sudo === undefined ? preferred : "dial-stdio";
    // A channel back in the pool has finished its answer: the next one starts from nothing.
    this.on("free", (socket: Duplex) => {
      const budget = this.budgets.get(socket);
      if (budget) Object.assign(budget, { received: 0, capped: true });
    });
  }

  /** Why the last channel cut at the cap was cut, once (the HTTP client reports it as "aborted"). */
  takeCapError(): Error | undefined {
    const error = this.capError;
    this.capError = undefined;
    return error;
  }

  /**
   * The answer now arriving on `socket` (an engine response's `socket`) is a stream its reader
   * bounds line by line: no cap on its whole size. The cap is back once the channel is free.
   */
  streamAnswer(socket: unknown): void {
    const budget = this.budgets.get(socket as Duplex);
    if (budget) budget.capped = false;
  }

  /**
   * docker-modem formats every request's options, this agent among them, with
   * `util.inspect(options, { showHidden: true, depth: null })` before it asks `debug` whether to
   * print them, so even with its output off each request walked the whole SSH connection behind
   * the agent: 25-50 ms of CPU per request, ~0.4 s per 8-proxy pull, taken from the engines
   * pulling on the same cores (docs/benchmarks.md, "Fleet"). The agent describes itself instead.
   */
  [inspect.custom](): string {
    return `SshEngineAgent { transport: ${this.transport ?? "not chosen yet"} }`;
  }

  /** The transport in use (known after the first channel). */
  get via(): EngineTransport | undefined {
    return this.transport;
  }

  /**
   * Node's `Agent#createSocket` takes a truthy return value as the socket itself; the channel
   * arrives later through the callback, so this must return nothing.
   */
  override createConnection(
    _options: unknown,
    callback: (error: Error | null, socket?: Duplex) => void,
  ): undefined {
    this.openChannel().then(
      (channel) => callback(null, this.capped(asSocket(channel))),
      (error: Error) => callback(error),
    );
    return undefined;
  }

  /** `channel`, destroyed as soon as one capped answer on it passes `answerCapBytes`. */
  private capped(channel: Duplex): Duplex {
    const budget: AnswerBudget = { received: 0, capped: true };
    this.budgets.set(channel, budget);
    channel.on("data", (chunk: Buffer) => {
      budget.received += chunk.length;
      if (budget.capped && budget.received > answerCapBytes) {
        this.capError = new Error(`the engine's answer is larger than ${answerCapBytes} bytes`);
        channel.destroy(this.capError);
      }
    });
    return channel;
  }

  private async openChannel(): Promise<Duplex> {
    if (this.transport !== "dial-stdio") {
      try {
        const channel = await this.connection.forwardToSocket(this.socketPath);
        this.transport = "stream-local";
        return channel;
      } catch (error) {
        // sshd may forbid forwarding (AllowStreamLocalForwarding no), or the socket may be
        // another path than we guessed: the docker CLI on the proxy knows its own engine.
        if (this.transport === "stream-local" || this.connection.closed) throw error;
      }
    }
    this.transport = "dial-stdio";
    const dialStdio =
      this.dialStdioHost === undefined
        ? "docker system dial-stdio"
        : `docker -H '${this.dialStdioHost}' system dial-stdio`;
    const channel = await this.connection.execStream(
      this.sudo === undefined ? dialStdio : sudoCommand(this.sudo, dialStdio),
    );
    const stderr = (channel as Duplex & { stderr?: NodeJS.ReadableStream }).stderr;
    stderr?.on("data", (data: Buffer) => {
      this.lastStderr = (this.lastStderr + data.toString("utf8")).slice(-2000);
    });
    // Before the HTTP client writes anything: sudo reads this line, docker the rest.
    if (this.sudo?.mode === "password") channel.write(sudoPreamble(this.sudo));
    return channel;
  }
}

/** The parts of `net.Socket` that Node's HTTP client and agent call on a socket. */
function asSocket(channel: Duplex): Duplex {
  const socket = channel as Duplex & Record<string, unknown>;
  for (const method of ["setKeepAlive", "setNoDelay", "setTimeout", "ref", "unref"]) {
    if (typeof socket[method] !== "function") socket[method] = () => socket;
  }
  return channel;
}
