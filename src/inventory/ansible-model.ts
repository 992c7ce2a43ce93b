/**
 * Ansible's inventory data (groups, hosts, their own variables) as ansible-core 2.14 builds
 * it from its INI and YAML plugins: `all` and `ungrouped` always exist, a host's port from
 * `host:port` is its first `ansible_port`, later assignments replace earlier ones, groups with
 * no parent become children of `all`, and a group's hosts are its own and its descendants'.
 */
import { SideloadError, quote } from "../errors.js";

/** Variables by name, as a group, a host or a vars file holds them. */
export type Vars = Record<string, unknown>;

/** A group as Ansible keeps it (its own variables, not yet combined). */
export interface AnsibleGroup {
  name: string;
  vars: Vars;
  /** The file that set each variable (for the password permission warning). */
  origins: Record<string, string>;
  children: AnsibleGroup[];
  parents: AnsibleGroup[];
  /** Hosts listed in this group itself, in order. */
  hosts: AnsibleHost[];
  /** The same hosts, for membership tests on large groups. */
  members: Set<AnsibleHost>;
  priority: number;
}

/** A host as Ansible keeps it (the variables of its own lines). */
export interface AnsibleHost {
  name: string;
  vars: Vars;
  origins: Record<string, string>;
  /** Groups the host is listed in directly. */
  direct: AnsibleGroup[];
}

/** Ansible's InventoryData: every source of a run is read into one. */
export class AnsibleInventory {
  readonly groups = new Map<string, AnsibleGroup>();
  readonly hosts = new Map<string, AnsibleHost>();

  constructor(
    private readonly onTooMany: () => never,
    private readonly maxHosts: number,
  ) {
    this.addGroup("all");
    this.addGroup("ungrouped");
    this.addChild("all", "ungrouped", "");
  }

  addGroup(name: string): AnsibleGroup {
    let group = this.groups.get(name);
    if (!group) {
      group = {
        name,
        vars: {},
        origins: {},
        children: [],
        parents: [],
        hosts: [],
        members: new Set(),
        priority: 1,
      };
      this.groups.set(name, group);
    }
    return group;
  }

  /** Add a host (to a group); a port is the host's `ansible_port` only when it is new. */
  addHost(name: string, groupName: string, port: number | undefined, file: string): AnsibleHost {
    let host = this.hosts.get(name);
    if (!host) {
      host = { name, vars: {}, origins: {}, direct: [] };
      this.hosts.set(name, host);
      if (this.hosts.size > this.maxHosts) this.onTooMany();
      if (port !== undefined) this.setHostVar(host, "ansible_port", port, file);
    }
    const group = this.addGroup(groupName);
    if (!group.members.has(host)) {
      group.members.add(host);
      group.hosts.push(host);
      host.direct.push(group);
    }
    return host;
  }

  setHostVar(host: AnsibleHost, key: string, value: unknown, file: string): void {
    host.vars[key] = value;
    host.origins[key] = file;
  }

  /** A group variable; `ansible_group_priority` is the group's priority, not a variable. */
  setGroupVar(group: AnsibleGroup, key: string, value: unknown, file: string, where: string): void {
    if (key === "ansible_group_priority") {
      const n = typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isInteger(n)) {
        throw new SideloadError(
          "INVENTORY_INVALID",
          `${where}: ansible_group_priority ${quote(String(value))} is not a whole number`,
          {
            hint: "e.g. ansible_group_priority: 10",
          },
        );
      }
      group.priority = n;
      return;
    }
    group.vars[key] = value;
    group.origins[key] = file;
  }

  /** Make `child` a child group of `parent`, refusing a cycle as Ansible does. */
  addChild(parentName: string, childName: string, where: string): void {
    const parent = this.addGroup(parentName);
    const child = this.addGroup(childName);
    if (parent === child || this.ancestors(parent).has(child)) {
      throw new SideloadError(
        "INVENTORY_INVALID",
        `${where}: making ${quote(childName)} a child of ${quote(parentName)} creates a loop of groups`,
        { hint: "a group cannot contain itself, directly or through its children" },
      );
    }
    if (!parent.children.includes(child)) parent.children.push(child);
    if (!child.parents.includes(parent)) child.parents.push(parent);
  }

  private readonly ancestorCache = new Map<AnsibleGroup, Set<AnsibleGroup>>();

  /** Every group above `group` (cached: call after the groups are complete, or on a cycle check). */
  ancestors(group: AnsibleGroup, cached = false): Set<AnsibleGroup> {
    const known = cached ? this.ancestorCache.get(group) : undefined;
    if (known) return known;
    const seen = new Set<AnsibleGroup>();
    const walk = (g: AnsibleGroup) => {
      for (const p of g.parents) {
        if (!seen.has(p)) {
          seen.add(p);
          walk(p);
        }
      }
    };
    walk(group);
    if (cached) this.ancestorCache.set(group, seen);
    return seen;
  }

  /** What Ansible's reconcile_inventory does after all sources are read. */
  reconcile(): void {
    const all = this.addGroup("all");
    const ungrouped = this.addGroup("ungrouped");
    for (const group of this.groups.values()) {
      if (group !== all && group.parents.length === 0) this.addChild("all", group.name, "");
    }
    const leaving = new Set<AnsibleHost>();
    for (const host of this.hosts.values()) {
      const groups = this.hostGroups(host);
      const others = [...groups].filter((g) => g !== all && g !== ungrouped);
      if (groups.has(ungrouped)) {
        if (others.length > 0) {
          leaving.add(host);
          host.direct = host.direct.filter((g) => g !== ungrouped);
        }
      } else if (others.length === 0) {
        ungrouped.hosts.push(host);
        ungrouped.members.add(host);
        host.direct.push(ungrouped);
      }
    }
    if (leaving.size > 0) {
      ungrouped.hosts = ungrouped.hosts.filter((h) => !leaving.has(h));
      for (const h of leaving) ungrouped.members.delete(h);
    }
  }

  /** The host's groups: those it is listed in and all their ancestors. */
  hostGroups(host: AnsibleHost): Set<AnsibleGroup> {
    const out = new Set<AnsibleGroup>();
    for (const g of host.direct) {
      out.add(g);
      for (const a of this.ancestors(g, true)) out.add(a);
    }
    return out;
  }

  /** Depth as Ansible keeps it: the longest path of children from `all`. */
  depths(): Map<AnsibleGroup, number> {
    const depth = new Map<AnsibleGroup, number>();
    const of = (g: AnsibleGroup): number => {
      const known = depth.get(g);
      if (known !== undefined) return known;
      const d = g.parents.length === 0 ? 0 : Math.max(...g.parents.map((p) => of(p) + 1));
      depth.set(g, d);
      return d;
    };
    for (const g of this.groups.values()) of(g);
    return depth;
  }

  /**
   * A group's hosts in Ansible's order: its own, then its children's, then theirs, level by
   * level. (Where two groups of one level both have children, Ansible's order among those
   * grandchildren follows Python's set order; here it is the order the groups were listed.)
   */
  groupHosts(group: AnsibleGroup): AnsibleHost[] {
    const ordered = [group, ...group.children];
    const seen = new Set(ordered);
    let level = [...group.children];
    while (level.length > 0) {
      const next: AnsibleGroup[] = [];
      for (const g of level) {
        for (const c of g.children) {
          if (!seen.has(c)) {
            seen.add(c);
            ordered.push(c);
            next.push(c);
          }
        }
      }
      level = next;
    }
    const hosts: AnsibleHost[] = [];
    const listed = new Set<AnsibleHost>();
    for (const g of ordered) {
      for (const h of g.hosts) {
        if (!listed.has(h)) {
          listed.add(h);
          hosts.push(h);
        }
      }
    }
    return hosts;
  }
}
