/**
 * From what VCF Operations knows to the proxies a pak must reach, as pure functions: the
 * members of each collector group that runs an instance of one of the pak's adapter kinds (an
 * instance may move to any member, and each Test Connection starts a new container there),
 * plus any cloud proxy that runs one outside a group. Containerized adapters run on cloud
 * proxies only: an analytics node's collector is never a target.
 */
import { SideloadError, printable, quote } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";
import type { OpsAdapterInstance, OpsCollector, OpsCollectorGroup } from "./answers.js";

/** What Ops answered, for the kinds asked about. */
export interface OpsView {
  collectors: OpsCollector[];
  groups: OpsCollectorGroup[];
  /** Instances of the kinds asked about (all of them together). */
  instances: OpsAdapterInstance[];
}

/** Which proxies: by adapter instances (default), by named collector groups, or all cloud proxies. */
export interface OpsSelection {
  /** The pak's adapter kinds (KINDKEY). */
  kinds: string[];
  /** --collector-group NAME (repeatable): the members of these groups instead. */
  collectorGroups?: string[] | undefined;
  /** --ops-all: every cloud proxy. */
  all?: boolean | undefined;
}

/** A cloud proxy that is a target, with why. */
export interface OpsProxy {
  /** The collector's name in Ops (the proxy's name in reports and --limit). */
  name: string;
  /** Its hostName: where SSH goes (ssh config applies). */
  host: string;
  collectorId: string;
  /** `CLOUD_PROXY`, `UNIFIED_CLOUD_PROXY`; undefined on releases that do not say. */
  type?: string | undefined;
  /** `UP`, `DOWN`…: a DOWN proxy is still a target (the image must be there when it is back). */
  state?: string | undefined;
  /** The names of the collector groups it belongs to (group names for --limit). */
  groups: string[];
  /** Printable: `east-group holds LabAdapter instance "lab-1"`; several joined by "; ". */
  reason: string;
  /** The adapter instances (of the kinds asked) that run on it or on its groups. */
  instances: string[];
}

/** A collector group involved in the run, for the coverage verdict. */
export interface OpsGroup {
  id: string;
  name: string;
  /** Names of its cloud-proxy members (every one must hold the images). */
  members: string[];
  /** The instances (of the kinds asked) assigned to it. */
  instances: string[];
}

/** The targets, the groups involved, and notes worth showing (internal collectors skipped, DOWN). */
export interface OpsTargets {
  proxies: OpsProxy[];
  groups: OpsGroup[];
  notes: string[];
}

const cloudProxyTypes = new Set(["CLOUD_PROXY", "UNIFIED_CLOUD_PROXY"]);

/**
 * Whether a collector is a cloud proxy. Releases before VCF Operations 9 give no `type`: there
 * `local: true` marks an analytics node's collector, and every other one is taken for a proxy.
 */
export function isCloudProxy(collector: OpsCollector): boolean {
  return collector.type === undefined ? !collector.local : cloudProxyTypes.has(collector.type);
}

/** Pick the target proxies. Throws OPS_GROUP_UNKNOWN, OPS_NO_INSTANCES, OPS_INVALID (exit 2). */
export function selectOpsTargets(view: OpsView, selection: OpsSelection): OpsTargets {
  const byId = new Map(view.collectors.map((c) => [c.id, c]));
  const groupsOf = (c: OpsCollector) => view.groups.filter((g) => g.memberIds.includes(c.id));
  const picked = new Map<string, { collector: OpsCollector; reasons: string[]; instances: string[] }>();
  const involved = new Map<string, { group: OpsCollectorGroup; instances: string[] }>();
  const notes: string[] = [];
  const pick = (c: OpsCollector, reason: string, instance?: string) => {
    const entry = picked.get(c.id) ?? { collector: c, reasons: [], instances: [] };
    if (!entry.reasons.includes(reason)) entry.reasons.push(reason);
    if (instance !== undefined && !entry.instances.includes(instance)) entry.instances.push(instance);
    picked.set(c.id, entry);
  };
  const pickGroup = (g: OpsCollectorGroup, reason: string, instance?: string) => {
    const entry = involved.get(g.id) ?? { group: g, instances: [] };
    if (instance !== undefined && !entry.instances.includes(instance)) entry.instances.push(instance);
    involved.set(g.id, entry);
    for (const memberId of g.memberIds) {
      const c = byId.get(memberId);
      if (c === undefined)
        notes.push(`${label(g.name)} lists collector id ${memberId}, which Ops does not list`);
      else if (!isCloudProxy(c))
        notes.push(`${label(g.name)}: ${label(c.name)} is not a cloud proxy (${c.type ?? "local"}): skipped`);
      else pick(c, reason, instance);
    }
  };
  if (selection.all) {
    for (const c of view.collectors.filter(isCloudProxy)) pick(c, "every cloud proxy (--ops-all)");
    for (const g of view.groups)
      if (g.memberIds.some((m) => picked.has(m))) pickGroup(g, "every cloud proxy (--ops-all)");
  } else if (selection.collectorGroups !== undefined && selection.collectorGroups.length > 0) {
    for (const wanted of selection.collectorGroups) {
      const g = findGroup(view.groups, wanted);
      pickGroup(g, `member of ${label(g.name)} (--collector-group)`);
    }
  } else {
    selectByInstances(view, selection.kinds, { byId, pick, pickGroup, notes });
  }
  const proxies = [...picked.values()].map(({ collector: c, reasons, instances }) =>
    toOpsProxy(c, groupsOf(c), reasons, instances),
  );
  for (const p of proxies)
    if (p.state !== undefined && p.state !== "UP")
      notes.push(`${label(p.name)} is ${p.state} in Ops: still a target`);
  checkUniqueNames(proxies);
  if (proxies.length === 0) {
    throw new SideloadError("NO_PROXIES", "VCF Operations lists no cloud proxy to target", {
      hint:
        notes.length > 0
          ? `Ops says: ${notes.slice(0, 3).join("; ")}`
          : "check the collector groups in Ops, or use --ops-all",
    });
  }
  const groups = [...involved.values()].map(({ group, instances }) => ({
    id: group.id,
    name: group.name,
    members: group.memberIds.flatMap((m) => {
      const c = byId.get(m);
      return c !== undefined && isCloudProxy(c) ? [c.name] : [];
    }),
    instances,
  }));
  return { proxies, groups, notes };
}

interface Picker {
  byId: Map<string, OpsCollector>;
  pick: (c: OpsCollector, reason: string, instance?: string) => void;
  pickGroup: (g: OpsCollectorGroup, reason: string, instance?: string) => void;
  notes: string[];
}

function selectByInstances(view: OpsView, kinds: string[], { byId, pick, pickGroup, notes }: Picker): void {
  const groupById = new Map(view.groups.map((g) => [g.id, g]));
  const empty = kinds.filter((k) => !view.instances.some((i) => i.kind === k));
  if (empty.length > 0) {
    throw new SideloadError(
      "OPS_NO_INSTANCES",
      `VCF Operations has no adapter instance of ${empty.map((k) => quote(k)).join(", ")} yet: it cannot tell which proxies need the image`,
      {
        hint: "for a first install, name the collector group the instances will use: --collector-group NAME (repeatable), or --ops-all for every cloud proxy",
      },
    );
  }
  for (const instance of view.instances.filter((i) => kinds.includes(i.kind))) {
    const what = `${printable(instance.kind)} instance ${quote(instance.name)}`;
    const group =
      instance.collectorGroupId === undefined ? undefined : groupById.get(instance.collectorGroupId);
    if (group !== undefined) {
      pickGroup(group, `${label(group.name)} holds ${what}`, instance.name);
      continue;
    }
    if (instance.collectorGroupId !== undefined)
      notes.push(`${what} names collector group id ${instance.collectorGroupId}, which Ops does not list`);
    const c = instance.collectorId === undefined ? undefined : byId.get(instance.collectorId);
    if (c === undefined) notes.push(`${what} runs on no collector Ops lists: skipped`);
    else if (!isCloudProxy(c))
      notes.push(`${what} runs on ${label(c.name)}, not a cloud proxy (${c.type ?? "local"}): skipped`);
    else pick(c, `${label(c.name)} runs ${what}`, instance.name);
  }
}

function toOpsProxy(
  c: OpsCollector,
  groups: OpsCollectorGroup[],
  reasons: string[],
  instances: string[],
): OpsProxy {
  if (c.hostName === undefined) {
    throw new SideloadError(
      "OPS_INVALID",
      `VCF Operations lists cloud proxy ${quote(c.name)} without a hostName`,
      {
        hint: "give its connection details in an --inventory (matched by name), or check the proxy in Ops",
      },
    );
  }
  return {
    name: c.name,
    host: c.hostName,
    collectorId: c.id,
    type: c.type,
    state: c.state,
    groups: groups.map((g) => g.name),
    reason: reasons.join("; "),
    instances,
  };
}

function checkUniqueNames(proxies: OpsProxy[]): void {
  const seen = new Set<string>();
  for (const p of proxies) {
    if (seen.has(p.name))
      throw new SideloadError(
        "OPS_INVALID",
        `VCF Operations lists two cloud proxies named ${quote(p.name)}`,
        {
          hint: "rename one in Ops, or target them with --proxy HOST instead",
        },
      );
    seen.add(p.name);
  }
}

/** The groups named (OPS_GROUP_UNKNOWN, listing those that exist, for a name Ops does not know). */
export function findCollectorGroups(groups: OpsCollectorGroup[], names: string[]): OpsCollectorGroup[] {
  return names.map((n) => findGroup(groups, n));
}

/** A group by name: exactly, else case-insensitively when that is unambiguous. */
function findGroup(groups: OpsCollectorGroup[], wanted: string): OpsCollectorGroup {
  const exact = groups.find((g) => g.name === wanted);
  if (exact) return exact;
  const folded = groups.filter((g) => g.name.toLowerCase() === wanted.toLowerCase());
  if (folded.length === 1 && folded[0]) return folded[0];
  const names = groups.map((g) => quote(g.name)).join(", ");
  throw new SideloadError("OPS_GROUP_UNKNOWN", `VCF Operations has no collector group ${quote(wanted)}`, {
    hint:
      groups.length === 0
        ? "this VCF Operations has no collector groups: use --ops-all"
        : `its collector groups: ${names}`,
  });
}

/** A name for a message: as is when plain, else quoted with control characters escaped. */
function label(name: string): string {
  return /^[A-Za-z0-9._-]+$/.test(name) ? name : quote(name);
}

/**
 * The Proxy[] of a run: SSH to each hostName on port 22 as `user` (both marked defaulted, so
 * the ssh config's Port and User apply when `userGiven` is false, as for any target).
 */
export function opsProxiesToTargets(proxies: OpsProxy[], user: string, userGiven: boolean): Proxy[] {
  return proxies.map((p) => ({
    name: p.name,
    host: p.host,
    port: 22,
    user,
    groups: p.groups,
    defaulted: userGiven ? ["port"] : ["user", "port"],
    opsState: p.state,
    reason: p.reason,
  }));
}

/**
 * Connection details from an --inventory for the proxies Ops lists, matched by name, else by
 * host (the inventory's host or name equal to the hostName): port, user, key, jump hosts and
 * engine socket come from the inventory; name, state and reason from Ops; groups from both.
 * Inventory entries Ops does not list are not targets.
 */
export function mergeInventoryDetails(targets: Proxy[], inventory: Proxy[]): Proxy[] {
  return targets.map((t) => {
    const match =
      inventory.find((p) => p.name === t.name) ??
      inventory.find((p) => p.host === t.host || p.name === t.host) ??
      inventory.find((p) => p.name.toLowerCase() === t.name.toLowerCase());
    if (match === undefined) return t;
    return {
      ...match,
      name: t.name,
      groups: [...new Set([...t.groups, ...match.groups])],
      opsState: t.opsState,
      reason: t.reason,
    };
  });
}
