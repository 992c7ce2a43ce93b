/**
 * The relay on one proxy, as one object for the per-proxy steps: `prepare` (the checks, then
 * the forward, the keeper and the hosts line), `pull` (the engine's pull once the line can be
 * seen), `undo` (all of it gone again, on every way out, over a new connection when the run's
 * dropped). The per-proxy code calls these three from one place, `undo` in its `finally`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { abortable } from "../abortable.js";
import { SideloadError } from "../errors.js";
import type { Session } from "../session/proxy-session.js";
import type { RemoteForward } from "../ssh/remote-forward.js";
import { relayEngineProblem } from "./engine-checks.js";
import type { RelayMark } from "./hosts-file.js";
import {
  addHostsLine,
  endEarlierConnections,
  readHosts,
  removeHostsLine,
  startKeeper,
  type HostsAccess,
} from "./proxy-hosts.js";
import { hostOnly, type Relay } from "./relay.js";

/**
 * Go's resolver (the engine's) keeps /etc/hosts for up to 5 s: a pull sooner may not see the
 * line yet. It is tried at once anyway (an engine that resolved nothing lately reads the file
 * afresh), and only a failure within that time is tried again after it.
 */
export const hostsCacheMs = 5_200;

/**
 * How long undo waits on the run's own connection before it takes a fresh one: a connection that
 * went silent (a frozen link) is not closed yet, and would hold the frame's whole cleanup time.
 */
export const undoOnSessionMs = 4_000;

/** What the relay did on a proxy, told to the operator. */
export type RelayNote =
  | { type: "stale-removed"; marks: RelayMark[] }
  | { type: "set-aside"; lines: string[] }
  | { type: "undo-failed"; error: unknown }
  | { type: "ended-earlier"; keepers: number[] };

/** The port a registry name leads to: its own, else 443. */
export function registryPort(registry: string): number {
  const port = /:(\d+)$/.exec(registry.replace(/^\[[^\]]*\]/, ""))?.[1];
  return port === undefined ? 443 : Number(port);
}

export class ProxyRelay {
  private prepared: Promise<void> | undefined;
  private preparedFor: Session | undefined;
  private readonly forwards: RemoteForward[] = [];
  private keeper: { pid: number; stop: () => void } | undefined;
  /**
   * The keepers of this run's earlier connections on the proxy: after a silent drop sshd may
   * still hold such a connection, with its forward on the relay's port, until it notices.
   */
  private readonly earlierKeepers: number[] = [];
  /** Hosts whose line this run wrote (the line is removed by run id: one removal does all). */
  private lineWritten = false;
  private writtenAt = 0;
  private entrySetAside = false;

  constructor(
    private readonly relay: Relay,
    private readonly runId: string,
    /** The registries relayed to this proxy, as in the paks. */
    private readonly registries: string[],
    private readonly where: string,
    private readonly onNote: (note: RelayNote) => void,
  ) {}

  /**
   * Once per session: the checks, then the changes; throws before any change on a refusal. A
   * new session (after a dropped connection) gets its forward, keeper and line anew; the old
   * line, its keeper gone, is replaced by the same run's.
   */
  prepare(session: Session): Promise<void> {
    if (this.preparedFor !== session || this.prepared === undefined) {
      this.preparedFor = session;
      this.forwards.splice(0); // gone with the old connection
      if (this.keeper !== undefined) this.earlierKeepers.push(this.keeper.pid);
      this.keeper?.stop();
      this.keeper = undefined;
      this.prepared = this.setUp(session);
    }
    return this.prepared;
  }

  private async setUp(session: Session): Promise<void> {
    this.relay.warm();
    const ports = [...new Set(this.registries.map(registryPort))];
    // A connection of this run that sshd still holds would keep the port: end it first.
    await this.endEarlier(session);
    const [info, hosts] = await Promise.all([session.info(), readHosts(session, ports, this.where)]);
    const problem = relayEngineProblem(info.raw, this.registries, this.where);
    if (problem) throw problem;
    if (hosts.portsInUse.length > 0) throw this.portInUse(hosts.portsInUse);
    for (const port of ports) {
      this.forwards.push(await session.forwardIn("127.0.0.1", port, (stream) => this.relay.handle(stream)));
    }
    this.keeper = await startKeeper(session);
    let first: typeof hosts | undefined = hosts;
    for (const host of new Set(this.registries.map(hostOnly))) {
      const mark = { runId: this.runId, host, keeper: this.keeper.pid };
      this.lineWritten = true; // from here on, undo must look even if the write fails
      const added = await addHostsLine(session, mark, this.where, first);
      first = undefined;
      if (added.stale.length > 0) this.onNote({ type: "stale-removed", marks: added.stale });
      if (added.setAside.length > 0) {
        this.entrySetAside = true;
        this.onNote({ type: "set-aside", lines: added.setAside });
      }
    }
    this.writtenAt = Date.now();
  }

  /**
   * The engine's pull through the relay. With an entry set aside (which the engine may still
   * hold for 5 s) it waits first; else it tries at once and, failing within the 5 s, once more
   * after them.
   */
  async pull<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const started = Date.now();
    try {
      return await this.pullOnceLineSeen(attempt, signal);
    } catch (error) {
      throw this.withRelayCause(error, started);
    }
  }

  private async pullOnceLineSeen<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const left = () => this.writtenAt + hostsCacheMs - Date.now();
    if (this.entrySetAside && left() > 0) await sleep(left(), undefined, { signal });
    try {
      return await attempt();
    } catch (error) {
      if (left() <= 0 || signal.aborted) throw error;
      await sleep(left(), undefined, { signal });
      return attempt();
    }
  }

  /**
   * Remove the line (putting back what it set aside), close the forwards, end the keeper.
   * `session` is the run's when it still stands; `reopen` gives a fresh one when it does not.
   * Never throws: a failure is told (the next run removes the line, its keeper being gone).
   */
  async undo(
    session: Session | undefined,
    reopen: () => Promise<HostsAccess & { close(): void }>,
  ): Promise<void> {
    await this.prepared?.catch(() => undefined);
    const forwards = this.forwards.splice(0).map((forward) => forward.close().catch(() => undefined));
    if (session !== undefined && !connectionGone(session)) {
      // On the run's connection if it still answers soon; one gone silent (a frozen link) is not
      // closed yet, and would hold the whole cleanup: then a fresh connection does it.
      const removed = this.lineWritten
        ? removeHostsLine(session, this.runId, this.where).then(() => (this.lineWritten = false))
        : Promise.resolve();
      await abortable(Promise.all([removed, ...forwards]), AbortSignal.timeout(undoOnSessionMs)).catch(
        () => undefined,
      );
    }
    if (this.lineWritten) {
      let fresh: (HostsAccess & { close(): void }) | undefined;
      try {
        fresh = await reopen();
        // Whatever sshd still holds of this run's connections goes too (the forward, the keeper).
        if (this.keeper !== undefined) this.earlierKeepers.push(this.keeper.pid);
        this.keeper = undefined;
        await this.endEarlier(fresh);
        await removeHostsLine(fresh, this.runId, this.where);
        this.lineWritten = false;
      } catch (error) {
        this.onNote({ type: "undo-failed", error });
      } finally {
        fresh?.close();
      }
    }
    this.keeper?.stop();
    this.keeper = undefined;
  }

  /** End the connections of this run that sshd still holds (their keepers named). */
  private async endEarlier(access: HostsAccess): Promise<void> {
    if (this.earlierKeepers.length === 0) return;
    const ended = await endEarlierConnections(access, this.earlierKeepers.splice(0), this.where);
    if (ended.length > 0) this.onNote({ type: "ended-earlier", keepers: ended });
  }

  /**
   * A failed pull's error, with why the relay could not serve it when the relay failed during
   * it: the engine saw only "502 Bad Gateway", the cause (say a blob redirect this machine
   * cannot follow) is on this side.
   */
  private withRelayCause(error: unknown, since: number): unknown {
    const cause = this.relay.refusalSince(since, this.registries);
    if (cause === undefined || !(error instanceof SideloadError)) return error;
    return new SideloadError(
      error.code,
      `${error.message}; the relay could not fetch it from this machine: ${cause.message}`,
      {
        hint: (cause instanceof SideloadError ? cause.hint : undefined) ?? error.hint,
        cause: error,
      },
    );
  }

  private portInUse(ports: number[]): SideloadError {
    return new SideloadError(
      "RELAY_PORT_IN_USE",
      `${this.where}: something already listens on the proxy's loopback at port ${ports.join(", ")}, where the relay's forward must listen`,
      {
        hint: "nothing was changed: pull this proxy without --relay, or use a registry name with another port",
      },
    );
  }
}

function connectionGone(session: Session): boolean {
  return session.closed;
}
