/**
 * Is the adapter running? For each adapter instance of the paks' kinds (Suite API), on its
 * collector's proxy, the containers created from the exact image of its kind (engine/containers):
 * running, or not with their exit code and last log lines. An instance whose collector is not
 * among the run's proxies (an analytics node, a proxy --limit left out) is reported, not
 * checked. A first install has no instance yet: the note says so, and when to check.
 */
import { abortable } from "../abortable.js";
import { hostPort, printable, quote, toErrorInfo, type ErrorInfo } from "../errors.js";
import type { AdapterContainer } from "../engine/containers.js";
import type { Proxy } from "../inventory/proxy.js";
import { readOpsView } from "../ops/ops-source.js";
import type { OpsConnection } from "../ops/suite-api.js";
import type { AdapterImage } from "../pak/read-paks.js";
import { ProxyDeadline } from "../session/proxy-deadline.js";
import { openProxySession } from "../session/proxy-session.js";
import type { ConnectOptions } from "../ssh/connect.js";
import type { KnownHostLine } from "../ssh/known-hosts.js";

/** One adapter instance and what its proxy runs of its image. */
export interface RunningRow {
  instance: string;
  kind: string;
  /** The collector it runs on, as Ops names it (undefined: Ops names none). */
  collector?: string | undefined;
  reference: string;
  /** `running`: a container of the image runs; `stopped`: some exist, none runs; `none`: none exists. */
  verdict: "running" | "stopped" | "none" | "not-checked" | "failed";
  containers: AdapterContainer[];
  /** Why it was not checked, printable. */
  note?: string | undefined;
  error?: ErrorInfo | undefined;
}

export interface RunningReport {
  rows: RunningRow[];
  /** Set when there is nothing to check (no instance yet). */
  note?: string | undefined;
  /** Every instance checked has a running container. */
  ok: boolean;
}

/** How to reach the proxies: as the run's batch does. */
export interface RunningDeps {
  knownHosts: KnownHostLine[];
  connect: Omit<ConnectOptions, "signal">;
  signal?: AbortSignal | undefined;
  /** Per proxy. */
  timeoutMs: number;
}

/** The note of a first install: no instance to look at yet. */
export const noInstanceNote =
  "no adapter instance of the pak's kinds exists yet: nothing runs to check; once one is created, mp-sideload verify --running checks its containers";

/** Read the instances and collectors from Ops, then check each instance's proxy. */
export async function checkRunning(
  connection: OpsConnection,
  images: AdapterImage[],
  proxies: Proxy[],
  deps: RunningDeps,
): Promise<RunningReport> {
  const view = await readOpsView(connection, [...new Set(images.map((i) => i.kind))]);
  if (view.instances.length === 0) return { rows: [], note: noInstanceNote, ok: true };
  const collectorName = new Map(view.collectors.map((c) => [c.id, c.name]));
  const byProxy = new Map<string, RunningRow[]>();
  const rows: RunningRow[] = [];
  for (const instance of view.instances) {
    const collector =
      instance.collectorId === undefined ? undefined : collectorName.get(instance.collectorId);
    const proxy = proxies.find((p) => p.name === collector);
    for (const image of images.filter((i) => i.kind === instance.kind)) {
      const row: RunningRow = {
        instance: instance.name,
        kind: instance.kind,
        collector,
        reference: image.reference,
        verdict: "not-checked",
        containers: [],
      };
      if (proxy === undefined)
        row.note = `its collector ${collector === undefined ? "is not named" : quote(collector)} is not a proxy of this run`;
      else byProxy.set(proxy.name, [...(byProxy.get(proxy.name) ?? []), row]);
      rows.push(row);
    }
  }
  for (const proxy of proxies) {
    const mine = byProxy.get(proxy.name);
    if (mine !== undefined) await checkProxy(proxy, mine, deps);
  }
  const checked = rows.filter((r) => r.verdict !== "not-checked");
  return { rows, ok: checked.every((r) => r.verdict === "running") };
}

/** One proxy's rows: connect, find the engine, list each reference's containers. Never throws. */
async function checkProxy(proxy: Proxy, rows: RunningRow[], deps: RunningDeps): Promise<void> {
  const where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
  const deadline = new ProxyDeadline(deps.timeoutMs, deps.signal, where);
  const session = openProxySession(proxy, {
    knownHosts: deps.knownHosts,
    connect: deps.connect,
    signal: deadline.signal,
    where,
  });
  try {
    await abortable(
      (async () => {
        await session.connect();
        await session.startEngine();
        for (const row of rows) {
          row.containers = await session.adapterContainers(row.reference);
          row.verdict = row.containers.some((c) => c.state === "running")
            ? "running"
            : row.containers.length > 0
              ? "stopped"
              : "none";
        }
      })(),
      deadline.signal,
    );
  } catch (error) {
    const info = toErrorInfo(deadline.explain(error));
    for (const row of rows)
      if (row.verdict === "not-checked") Object.assign(row, { verdict: "failed", error: info });
  } finally {
    session.close();
  }
}
