/**
 * Ansible's INI and YAML inventory plugins (ansible-core 2.14), read into an AnsibleInventory.
 * What Ansible warns about and skips is refused here instead (exit 2): a half-read inventory
 * would select the wrong proxies.
 */
import { SideloadError, quote } from "../errors.js";
import type { AnsibleInventory, Vars } from "./ansible-model.js";
import { expandHostPattern, iniValue, shlexSplit } from "./ansible-syntax.js";

function invalid(message: string, hint: string): SideloadError {
  return new SideloadError("INVENTORY_INVALID", message, { hint });
}

/**
 * The inventory file being read and where its hosts go: its label for messages, its path, the
 * inventory it adds to, and the host budget (hosts left before `onTooMany`).
 */
export interface InventorySource {
  label: string;
  file: string;
  inv: AnsibleInventory;
  budget: () => number;
  onTooMany: () => never;
}

interface Pending {
  line: number;
  kind: "vars" | "children";
  parents: string[];
}

/** Ansible INI: `[group]` host lines, `[group:vars]`, `[group:children]`. */
export function parseAnsibleIni(text: string, source: InventorySource): void {
  const { label, file, inv } = source;
  const pending = new Map<string, Pending>();
  let group = "ungrouped";
  let state = "hosts";
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  lines.forEach((raw, index) => {
    const where = `${label} line ${index + 1}`;
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const section = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/.exec(line);
    if (section) {
      group = section[1] ?? "";
      state = section[2] ?? "hosts";
      if (!["hosts", "children", "vars"].includes(state)) {
        throw invalid(
          `${where}: section [${group}:${state}] has an unknown type`,
          "the types are [NAME], [NAME:vars] and [NAME:children]",
        );
      }
      if (!inv.groups.has(group)) {
        if (state === "vars" && !pending.has(group))
          pending.set(group, { line: index + 1, kind: "vars", parents: [] });
        inv.addGroup(group);
      }
      const waiting = pending.get(group);
      if (waiting && state !== "vars") resolvePending(group, pending, inv, where);
      return;
    }
    if (line.startsWith("[") && line.endsWith("]")) {
      throw invalid(
        `${where}: ${quote(line)} is not a section header`,
        "e.g. [east], [east:vars], [prod:children], with no spaces",
      );
    }
    if (state === "hosts") {
      hostLine(line, where, group, source);
    } else if (state === "vars") {
      const eq = line.indexOf("=");
      if (eq < 0) throw invalid(`${where}: ${quote(line)} is not key=value`, "e.g. ansible_user=root");
      const key = line.slice(0, eq).trim();
      inv.setGroupVar(inv.addGroup(group), key, iniValue(line.slice(eq + 1).trim()), file, where);
    } else {
      const child = /^([^:\]\s]+)\s*(?:#.*)?$/.exec(line)?.[1];
      if (child === undefined)
        throw invalid(`${where}: ${quote(line)} is not a group name`, "one group name per line");
      if (inv.groups.has(child)) inv.addChild(group, child, where);
      else {
        const waiting = pending.get(child);
        if (waiting) waiting.parents.push(group);
        else pending.set(child, { line: index + 1, kind: "children", parents: [group] });
      }
    }
  });
  for (const [name, decl] of pending) {
    throw invalid(
      decl.kind === "vars"
        ? `${label} line ${decl.line}: [${name}:vars] is for a group that is not defined`
        : `${label} line ${decl.line}: [${decl.parents.at(-1) ?? ""}:children] names an undefined group ${quote(name)}`,
      `define it with a [${name}] or [${name}:children] section`,
    );
  }
}

function resolvePending(
  group: string,
  pending: Map<string, Pending>,
  inv: AnsibleInventory,
  where: string,
): void {
  const decl = pending.get(group);
  if (!decl) return;
  if (decl.kind === "children") {
    for (const parent of decl.parents) {
      inv.addChild(parent, group, where);
      if (pending.get(parent)?.kind === "children") resolvePending(parent, pending, inv, where);
    }
  }
  pending.delete(group);
}

function hostLine(line: string, where: string, group: string, source: InventorySource): void {
  let words: string[];
  try {
    words = shlexSplit(line);
  } catch (error) {
    throw invalid(
      `${where}: ${quote(line)} is not a host line (${(error as Error).message})`,
      "a host line is a name and optional key=value pairs, e.g. cp-01 ansible_host=10.0.0.5",
    );
  }
  const [word, ...assignments] = words;
  if (word === undefined) return;
  const { names, port } = expandHostPattern(word, where, source.budget(), source.onTooMany);
  if (word.trim().endsWith(":") && port === undefined) {
    throw invalid(
      `${where}: host ${quote(word)} ends in ":"`,
      "a port follows the colon, e.g. cp-04.example.com:2204",
    );
  }
  if (names.some((n) => n.trim() === "---")) {
    throw invalid(
      `${where}: "---" starts a YAML document, not an INI host`,
      "give a YAML inventory a .yml or .yaml name",
    );
  }
  const vars: Vars = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf("=");
    if (eq < 0)
      throw invalid(`${where}: ${quote(assignment)} is not key=value`, "e.g. ansible_host=10.0.0.5");
    vars[assignment.slice(0, eq)] = iniValue(assignment.slice(eq + 1));
  }
  addHosts(source, names, group, port, vars);
}

/** Hosts of one line or pattern added to `group`, each with the same variables. */
function addHosts(
  source: InventorySource,
  names: string[],
  group: string,
  port: number | undefined,
  vars: Vars,
): void {
  for (const name of names) {
    const host = source.inv.addHost(name, group, port, source.file);
    for (const [k, v] of Object.entries(vars)) source.inv.setHostVar(host, k, v, source.file);
  }
}

function isMapping(value: unknown): value is Vars {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Ansible YAML: top-level keys are groups, each with optional `vars`, `children`, `hosts`. */
export function parseAnsibleYaml(doc: Vars, source: InventorySource): void {
  const { label } = source;
  if (doc.plugin !== undefined && doc.plugin !== null && doc.plugin !== "") {
    throw invalid(
      `${label}: an inventory plugin configuration (plugin: ${JSON.stringify(doc.plugin)}), not an inventory`,
      "mp-sideload reads INI and YAML inventories; export one with ansible-inventory -i FILE --list -y",
    );
  }
  for (const [name, data] of Object.entries(doc)) yamlGroup(name, data, source);
}

function yamlGroup(name: string, data: unknown, source: InventorySource): string {
  const { label, file, inv } = source;
  const where = `${label}: group ${quote(name)}`;
  if (!(data === null || data === undefined || isMapping(data))) {
    throw invalid(
      `${where} must be a mapping (Ansible skips it)`,
      "Ansible YAML: all: {hosts: {...}, vars: {...}, children: {...}}",
    );
  }
  inv.addGroup(name);
  if (!data) return name;
  for (const [section, raw] of Object.entries(data)) {
    const value =
      typeof raw === "string" && ["vars", "children", "hosts"].includes(section) ? { [raw]: null } : raw;
    if (value === null || value === undefined) continue;
    if (!isMapping(value)) {
      throw invalid(`${where}: ${quote(section)} must be a mapping`, `e.g. ${section}: {cp-01: {}}`);
    }
    if (section === "vars") {
      for (const [k, v] of Object.entries(value)) inv.setGroupVar(inv.addGroup(name), k, v, file, where);
    } else if (section === "children") {
      for (const [child, childData] of Object.entries(value)) {
        inv.addChild(name, yamlGroup(child, childData, source), where);
      }
    } else if (section === "hosts") {
      for (const [pattern, hostVars] of Object.entries(value)) {
        const { names, port } = expandHostPattern(pattern, where, source.budget(), source.onTooMany);
        const vars = hostVars ?? {};
        if (!isMapping(vars)) {
          throw invalid(
            `${where}: host ${quote(pattern)} must map to its variables`,
            `e.g. ${pattern}: {ansible_host: 10.0.0.5}`,
          );
        }
        addHosts(source, names, name, port, vars);
      }
    } else {
      throw invalid(
        `${where}: unknown key ${quote(section)} (Ansible skips it)`,
        "a group has only hosts, vars and children",
      );
    }
  }
  return name;
}
