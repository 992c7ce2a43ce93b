/**
 * VCF Operations as a target source: log in, read the collectors, collector groups and the
 * instances of the pak's adapter kinds, log out, then pick the targets (resolve.ts). Everything
 * fails before any proxy is contacted.
 */
import type { OpsAdapterInstance } from "./answers.js";
import {
  isCloudProxy,
  selectOpsTargets,
  type OpsSelection,
  type OpsTargets,
  type OpsView,
} from "./resolve.js";
import { SuiteApiClient, type OpsConnection } from "./suite-api.js";

export type { OpsConnection } from "./suite-api.js";
export type { OpsGroup, OpsProxy, OpsSelection, OpsTargets } from "./resolve.js";

/** Read what Ops knows about `kinds`; the token is released whatever happens. */
export async function readOpsView(connection: OpsConnection, kinds: string[]): Promise<OpsView> {
  const client = await SuiteApiClient.open(connection);
  try {
    const [collectors, groups] = [await client.collectors(), await client.collectorGroups()];
    let instances: OpsAdapterInstance[] = [];
    for (const kind of [...new Set(kinds)]) instances = instances.concat(await client.adapterInstances(kind));
    return { collectors, groups, instances };
  } finally {
    await client.close();
  }
}

/**
 * The proxies VCF Operations says a pak must reach, and the collector groups involved.
 *
 * By default: every cloud-proxy member of each collector group holding an instance of one of
 * `selection.kinds`, plus each cloud proxy holding one outside a group. `collectorGroups`
 * takes those groups' members instead; `all` every cloud proxy. Internal (analytics node)
 * collectors are never targets. DOWN proxies are (their `state` says so).
 *
 * Throws SideloadError (exit 2, before any proxy is contacted): OPS_UNAUTHORIZED,
 * OPS_FORBIDDEN, OPS_UNREACHABLE, OPS_UNTRUSTED_CA, OPS_API_FAILED, OPS_INVALID,
 * OPS_GROUP_UNKNOWN (the hint lists the groups), OPS_NO_INSTANCES (a kind with no instance:
 * ask for --collector-group or --ops-all), NO_PROXIES.
 *
 * @example
 * const { proxies, groups } = await resolveOpsProxies(
 *   { url, user, password, env: process.env, signal },
 *   { kinds: ["LabAdapter"] },
 * );
 * const targets = opsProxiesToTargets(proxies, sshUser, userGiven); // then resolveRoutes, --limit
 */
export async function resolveOpsProxies(
  connection: OpsConnection,
  selection: OpsSelection,
): Promise<OpsTargets> {
  const view = await readOpsView(
    connection,
    selection.all || selection.collectorGroups?.length ? [] : selection.kinds,
  );
  const targets = selectOpsTargets(view, selection);
  for (const note of targets.notes) connection.onDebug?.(`ops: ${note}`);
  return targets;
}

/** One collector as `mp-sideload proxies` lists it. */
export interface OpsCollectorRow {
  name: string;
  host: string | null;
  id: string;
  type: string | null;
  state: string | null;
  /** Whether mp-sideload would ever target it (a cloud proxy). */
  cloudProxy: boolean;
  groups: string[];
  /** Instances of the kinds asked about: on it, or on one of its groups. */
  instances: { name: string; kind: string; via: "collector" | "group" }[];
}

/** Everything Ops knows, per collector, with the instances of `kinds` (for `mp-sideload proxies`). */
export function describeOpsView(view: OpsView): {
  collectors: OpsCollectorRow[];
  groups: { name: string; id: string; members: string[] }[];
} {
  const nameOf = new Map(view.collectors.map((c) => [c.id, c.name]));
  const collectors = view.collectors.map((c): OpsCollectorRow => {
    const groups = view.groups.filter((g) => g.memberIds.includes(c.id));
    const groupIds = new Set(groups.map((g) => g.id));
    const instances = view.instances.flatMap((i): OpsCollectorRow["instances"] =>
      i.collectorGroupId !== undefined && groupIds.has(i.collectorGroupId)
        ? [{ name: i.name, kind: i.kind, via: "group" }]
        : i.collectorGroupId === undefined && i.collectorId === c.id
          ? [{ name: i.name, kind: i.kind, via: "collector" }]
          : [],
    );
    return {
      name: c.name,
      host: c.hostName ?? null,
      id: c.id,
      type: c.type ?? null,
      state: c.state ?? null,
      cloudProxy: isCloudProxy(c),
      groups: groups.map((g) => g.name),
      instances,
    };
  });
  const groups = view.groups.map((g) => ({
    name: g.name,
    id: g.id,
    members: g.memberIds.map((m) => nameOf.get(m) ?? `#${m}`),
  }));
  return { collectors, groups };
}
