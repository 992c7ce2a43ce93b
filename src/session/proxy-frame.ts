/**
 * The one frame every per-proxy command runs in (`pull`, `verify`, `doctor`, `prune`, and what
 * comes): the proxy's name in messages, its deadline (`--timeout` and Ctrl-C as one signal), the
 * session opened as two steps (`connect`, `engine`) and closed on every path out, the cleanups a
 * step registered (run before the session closes, whatever happened), the events, and a row
 * at the end: a command's steps throw, the frame turns that into the command's failed row.
 * `runProxies` is the one batch: every proxy through the frame, at most `concurrency` at once.
 */
import { abortable } from "../abortable.js";
import { SideloadError, hostPort, printable } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";
import type { ConnectOptions } from "../ssh/connect.js";
import type { KnownHostLine } from "../ssh/known-hosts.js";
import type { ProxyEvent, StepName, StepSubject, StepTiming } from "./events.js";
import { mapConcurrently } from "./map-concurrently.js";
import { ProxyDeadline } from "./proxy-deadline.js";
import { openProxySession, type EngineEndpoint, type OpenSession, type Session } from "./proxy-session.js";

/** What the frame needs of the run: SSH set-up, the run's signal, where events go. */
export interface FrameDeps<Row = unknown> {
  knownHosts: KnownHostLine[];
  connect: Omit<ConnectOptions, "signal">;
  /** The run's interruption (Ctrl-C, SIGTERM, SIGHUP, a registry's refusal). */
  signal?: AbortSignal | undefined;
  /** Opens the proxy's session; tests of the step rules pass a fake. */
  openSession?: OpenSession | undefined;
  onEvent?: ((event: ProxyEvent<Row>) => void) | undefined;
}

/** One proxy's run of a command: its steps, and what its row says when they threw. */
export interface ProxySteps<Row> {
  /** The steps, in order; ends with the proxy's row. May throw: `failed` makes the row. */
  run(): Promise<Row>;
  /** The row when `run` threw; `step` is the step that was running (undefined: none yet). */
  failed(error: unknown, step: StepName | undefined): Row;
  /** The row again when cleanups failed (their errors, in the order they ran). Absent: unchanged. */
  cleanupFailed?(row: Row, errors: unknown[]): Row;
}

/** A per-proxy command: how long a proxy may take, its steps, and a proxy it never started. */
export interface ProxyCommand<Row> {
  timeoutMs: number;
  steps(frame: ProxyFrame<Row>): ProxySteps<Row>;
  /** The row of a proxy the run was interrupted before. */
  notStarted(proxy: Proxy): Row;
}

/**
 * Undoes what a step did on the proxy (a hosts line, a forward). Runs on every path out, on the
 * deadline and Ctrl-C too, with a signal of its own (the proxy's has aborted by then).
 */
export type Cleanup = (signal: AbortSignal) => Promise<void> | void;

/** How long each cleanup may take once the proxy's own time is up. */
export const cleanupTimeoutMs = 10_000;

export interface StepOptions extends StepSubject {
  /** The step's timing goes here too (a pull row's `steps`). */
  timings?: StepTiming[] | undefined;
}

/** One proxy's frame: what every step of every command runs through. */
export class ProxyFrame<Row = unknown> {
  readonly started = Date.now();
  /** `cp-1 (10.0.0.5:22)`: how messages name the proxy. */
  readonly where: string;
  readonly deadline: ProxyDeadline;
  /** The deadline's signal: the proxy's --timeout or the run's interruption. */
  readonly signal: AbortSignal;
  private current: Session | undefined;
  private found: EngineEndpoint | undefined;
  private running: StepName | undefined;
  private readonly cleanups: Cleanup[] = [];
  private ending: Promise<unknown[]> | undefined;

  constructor(
    readonly proxy: Proxy,
    timeoutMs: number,
    private readonly deps: FrameDeps<Row>,
  ) {
    this.where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
    this.deadline = new ProxyDeadline(timeoutMs, deps.signal, this.where);
    this.signal = this.deadline.signal;
  }

  emit(event: ProxyEvent<Row>): void {
    this.deps.onEvent?.(event);
  }

  /** The engine the first session found (a reopened session goes straight to it). */
  get endpoint(): EngineEndpoint | undefined {
    return this.found;
  }

  /** The step started last: the one that failed, when a command's steps throw. */
  get lastStep(): StepName | undefined {
    return this.running;
  }

  /** Run a step: timed, announced, and ended by the proxy's deadline or Ctrl-C whatever the far end does. */
  async step<T>(name: StepName, run: () => Promise<T>, options: StepOptions = {}): Promise<T> {
    const { timings, ...subject } = options;
    this.running = name;
    this.emit({ type: "step-started", proxy: this.proxy, step: name, ...subject });
    const t0 = Date.now();
    try {
      return await abortable(run(), this.signal);
    } finally {
      const durationMs = Date.now() - t0;
      timings?.push({ step: name, durationMs });
      this.emit({ type: "step-finished", proxy: this.proxy, step: name, durationMs, ...subject });
    }
  }

  /** The `connect` step: a new session, host key checked, then authentication. */
  async connect(timings?: StepTiming[]): Promise<Session> {
    this.drop();
    const session = (this.deps.openSession ?? openProxySession)(this.proxy, {
      knownHosts: this.deps.knownHosts,
      connect: this.deps.connect,
      signal: this.signal,
      where: this.where,
      endpoint: this.found,
    });
    this.current = session;
    try {
      await this.step("connect", () => session.connect(), { timings });
      return session;
    } catch (error) {
      this.drop();
      throw error;
    }
  }

  /**
   * The `engine` step on the open session: find the engine and prove it answers. `whileWaiting`
   * starts the requests that may go out with `/version` (see `Session.startEngine`).
   */
  async startEngine(
    timings?: StepTiming[],
    whileWaiting?: (session: Session) => void,
  ): Promise<{ version: string; apiVersion: string }> {
    const session = this.session();
    try {
      const version = await this.step(
        "engine",
        () => session.startEngine(whileWaiting && (() => whileWaiting(session))),
        { timings },
      );
      this.found = session.endpoint;
      return version;
    } catch (error) {
      this.drop();
      throw error;
    }
  }

  /** connect, then engine: a session whose engine answers. */
  async open(timings?: StepTiming[], whileWaiting?: (session: Session) => void): Promise<Session> {
    const session = await this.connect(timings);
    await this.startEngine(timings, whileWaiting);
    return session;
  }

  /** The open session; SSH_DISCONNECTED when there is none (dropped, or never opened). */
  session(): Session {
    if (this.current === undefined) {
      throw new SideloadError("SSH_DISCONNECTED", `${this.where}: the connection is closed`, {});
    }
    return this.current;
  }

  /** Whether a session was opened and not dropped since (its connection may have gone meanwhile). */
  get hasSession(): boolean {
    return this.current !== undefined;
  }

  /** Whether a session is open and its SSH connection still up. */
  get connected(): boolean {
    return this.current !== undefined && !this.current.closed;
  }

  /** Close the session (and every channel on it); the next `connect` opens a new one. */
  drop(): void {
    this.current?.close();
    this.current = undefined;
  }

  /** `undo` runs when the proxy's run ends, whatever ends it; cleanups run last-registered first. */
  onCleanup(undo: Cleanup): void {
    this.cleanups.push(undo);
  }

  /** On the deadline or Ctrl-C: the session goes at once, after the cleanups if there are any. */
  aborted(): void {
    if (this.cleanups.length === 0) this.drop();
    else void this.end();
  }

  /** Run the cleanups (once), then close the session. Never throws: the cleanups' errors come back. */
  end(): Promise<unknown[]> {
    this.ending ??= (async () => {
      const errors: unknown[] = [];
      for (const undo of this.cleanups.splice(0).reverse()) {
        const signal = AbortSignal.timeout(cleanupTimeoutMs);
        try {
          await abortable(
            Promise.resolve().then(() => undo(signal)),
            signal,
          );
        } catch (error) {
          errors.push(error);
        }
      }
      this.drop();
      return errors;
    })();
    return this.ending;
  }
}

/** One proxy through the frame: its steps, its cleanups, its row. Never throws. */
export async function runProxy<Row>(
  proxy: Proxy,
  command: ProxyCommand<Row>,
  deps: FrameDeps<Row>,
): Promise<Row> {
  const frame = new ProxyFrame<Row>(proxy, command.timeoutMs, deps);
  const steps = command.steps(frame);
  frame.emit({ type: "proxy-started", proxy });
  // On the deadline or Ctrl-C, tear the connection down at once: that ends every channel,
  // exec and request still waiting on it, so nothing outlives the proxy's time.
  const onAbort = () => frame.aborted();
  frame.signal.addEventListener("abort", onAbort, { once: true });
  let row: Row;
  let errors: unknown[];
  try {
    row = await steps.run().catch((error: unknown) => steps.failed(error, frame.lastStep));
  } finally {
    frame.signal.removeEventListener("abort", onAbort);
    errors = await frame.end();
  }
  if (errors.length > 0 && steps.cleanupFailed) row = steps.cleanupFailed(row, errors);
  frame.emit({ type: "proxy-finished", proxy, results: row });
  return row;
}

/**
 * The batch: `command` on every proxy, at most `concurrency` at once, rows in the proxies'
 * order. One proxy failing never stops the others; proxies not started when the run is
 * interrupted get the command's `notStarted` row.
 */
export function runProxies<Row>(
  proxies: Proxy[],
  command: ProxyCommand<Row>,
  deps: FrameDeps<Row> & { concurrency: number },
): Promise<Row[]> {
  return mapConcurrently(
    proxies,
    deps.concurrency,
    (proxy) => runProxy(proxy, command, deps),
    (proxy) => command.notStarted(proxy),
    deps.signal,
  );
}
