import { homedir } from "node:os";
import { basename, dirname, resolve } from "node:path";
import { Lexer, parse as parseYaml } from "yaml";
import { SideloadError, quote } from "../errors.js";
import { readTextFile } from "../files.js";
import { checkHost, checkPort, checkUser, parseHopSpec, type Proxy } from "./proxy.js";

type Vars = Record<string, unknown>;

/**
 * What an inventory may hold. A VCF Operations deployment has tens to hundreds of cloud
 * proxies; past these limits a file is refused (exit 2) before it can exhaust memory.
 */
export const inventoryLimits = {
  /** Bytes of inventory text. 10,000 proxies in native YAML take about 1 MB. */
  maxBytes: 8 * 1024 * 1024,
  /** Proxies in one inventory. */
  maxProxies: 10_000,
  /**
   * YAML tokens (scalars, indicators, spaces). The YAML parser keeps about 300 bytes per token,
   * so this bounds its memory near 250 MB; 10,000 proxies in block style take about 300,000.
   */
  maxYamlTokens: 600_000,
};

function tooManyProxies(label: string): SideloadError {
  return new SideloadError(
    "INVENTORY_TOO_LARGE",
    `${label}: more than ${inventoryLimits.maxProxies.toLocaleString("en")} proxies`,
    { hint: "split the inventory, or select a part of it with --limit in separate runs" },
  );
}

/** The keys of mp-sideload's native inventory; anything else is a typo to report. */
const nativeKeys = {
  top: ["proxies", "defaults"],
  proxy: ["name", "host", "port", "user", "identity", "dockerSocket", "groups", "jump"],
  defaults: ["port", "user", "identity", "dockerSocket", "jump"],
};

/**
 * Read an inventory file: mp-sideload's native YAML (a `proxies` list or map), an Ansible INI
 * inventory, or an Ansible YAML inventory (`all:` / groups with `hosts` and `children`).
 */
export async function loadInventory(file: string, defaultUser: string, userGiven = true): Promise<Proxy[]> {
  const text = await readTextFile(file, {
    what: "inventory",
    hint: "check the path given to --inventory",
    maxBytes: inventoryLimits.maxBytes,
    tooLarge: (size) =>
      new SideloadError(
        "INVENTORY_TOO_LARGE",
        `${file}: the inventory is ${size.toLocaleString("en")} bytes, more than the ${inventoryLimits.maxBytes.toLocaleString("en")} mp-sideload reads`,
        { hint: "split the inventory, or select a part of it with --limit in separate runs" },
      ),
  });
  return parseInventory(text, file, defaultUser, userGiven);
}

/** Parse inventory text; `file` names it in messages and anchors relative key paths. */
export function parseInventory(text: string, file: string, defaultUser: string, userGiven = true): Proxy[] {
  const label = basename(file);
  const trimmed = text.replace(/^\uFEFF/, "").trimStart();
  const proxies =
    /\.ini$/i.test(file) || trimmed.startsWith("[")
      ? parseAnsibleIni(text, label)
      : parseYamlInventory(text, label);
  if (proxies.length > inventoryLimits.maxProxies) throw tooManyProxies(label);
  const base = dirname(resolve(file));
  const seen = new Set<string>();
  return proxies.map((p) => {
    if (seen.has(p.name)) {
      throw new SideloadError("INVENTORY_INVALID", `${label}: proxy ${quote(p.name)} is listed twice`, {
        hint: "give each proxy a unique name",
      });
    }
    seen.add(p.name);
    const defaulted = [...(p.defaulted ?? []), ...(p.user || userGiven ? [] : (["user"] as const))];
    return {
      ...p,
      user: p.user || defaultUser,
      identity: p.identity === undefined ? undefined : expandPath(p.identity, base),
      ...(defaulted.length > 0 ? { defaulted } : { defaulted: undefined }),
    };
  });
}

function expandPath(path: string, base: string): string {
  if (path === "~" || path.startsWith("~/")) return resolve(homedir(), path.slice(2));
  return resolve(base, path);
}

function str(value: unknown, where: string, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  throw new SideloadError("INVENTORY_INVALID", `${where}: ${key} must be a string`, {
    hint: "check the inventory",
  });
}

/** Build a proxy from a name and merged variables (native keys or Ansible's). */
function proxyFrom(name: string, vars: Vars, groups: string[], where: string): Proxy {
  const host = str(vars.host ?? vars.ansible_host ?? vars.ansible_ssh_host, where, "host") ?? name;
  const port = vars.port ?? vars.ansible_port ?? vars.ansible_ssh_port;
  const user = str(vars.user ?? vars.ansible_user ?? vars.ansible_ssh_user, where, "user");
  const identity = str(vars.identity ?? vars.ansible_ssh_private_key_file, where, "identity");
  const dockerSocket = str(
    vars.dockerSocket ?? vars.docker_socket ?? vars.mp_sideload_docker_socket,
    where,
    "dockerSocket",
  );
  // The path may reach a shell on the proxy (`docker -H unix://PATH system dial-stdio`): only
  // plain path characters are accepted.
  if (dockerSocket !== undefined && !/^\/[A-Za-z0-9_./-]+$/.test(dockerSocket)) {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${where}: dockerSocket ${quote(dockerSocket)} is not an absolute path of letters, digits and ._-/`,
      {
        hint: "e.g. dockerSocket: /var/run/docker.sock",
      },
    );
  }
  const jumpSpecs = jumpsFrom(vars, where);
  return {
    name,
    host: checkHost(host, where),
    port: port === undefined ? 22 : checkPort(port, where),
    user: user === undefined ? "" : checkUser(user, where),
    identity,
    dockerSocket,
    groups,
    ...(jumpSpecs === undefined ? {} : { jumpSpecs }),
    ...(port === undefined ? { defaulted: ["port"] as ("user" | "port")[] } : {}),
  };
}

/** Ansible's variables as mp-sideload reads them: a `jump` there is Ansible's business, `mp_sideload_jump` ours. */
function ansibleVars(vars: Vars): Vars {
  const { jump: _theirs, mp_sideload_jump: ours, ...rest } = vars;
  return ours === undefined ? rest : { ...rest, jump: ours };
}

/**
 * Jump hosts: native `jump` (one `[user@]host[:port]` or a list), or Ansible's
 * `ansible_ssh_common_args` / `ansible_ssh_extra_args` with `-J HOPS` or `-o ProxyJump=HOPS`.
 */
function jumpsFrom(vars: Vars, where: string): string[] | undefined {
  const jump = vars.jump;
  let specs: string[] | undefined;
  if (typeof jump === "string") specs = jump.split(",");
  else if (Array.isArray(jump) && jump.every((j) => typeof j === "string")) specs = jump;
  else if (jump !== undefined && !isYamlNull(jump)) {
    throw new SideloadError("INVENTORY_INVALID", `${where}: jump must be a host or a list of hosts`, {
      hint: "e.g. jump: ops@bastion-1.example.com:22",
    });
  }
  for (const key of ["ansible_ssh_common_args", "ansible_ssh_extra_args"]) {
    const args = vars[key];
    if (typeof args !== "string" || specs !== undefined) continue;
    const match = /(?:^|\s)(?:-J\s*|-o\s*ProxyJump[= ])["']?([^\s"']+)/.exec(args);
    if (match) specs = (match[1] ?? "").split(",");
  }
  const cleaned = specs?.map((s) => s.trim()).filter((s) => s !== "" && s.toLowerCase() !== "none");
  for (const spec of cleaned ?? []) parseHopSpec(spec, `${where}: jump`);
  return cleaned === undefined || cleaned.length === 0 ? undefined : cleaned;
}

function parseYamlInventory(text: string, label: string): Proxy[] {
  // Counted with the lexer (a generator, flat memory) before the parser builds its tree.
  let tokens = 0;
  for (const _ of new Lexer().lex(text)) {
    if (++tokens > inventoryLimits.maxYamlTokens) {
      throw new SideloadError(
        "INVENTORY_TOO_LARGE",
        `${label}: more than ${inventoryLimits.maxYamlTokens.toLocaleString("en")} YAML elements`,
        { hint: "split the inventory, or select a part of it with --limit in separate runs" },
      );
    }
  }
  let doc: unknown;
  try {
    // The failsafe schema keeps every scalar a string, so a port is read from its digits only:
    // YAML's own integers would turn `0x16` into 22 and `1e1` into 10.
    doc = parseYaml(text, { maxAliasCount: 100, schema: "failsafe" });
  } catch (error) {
    throw new SideloadError("INVENTORY_INVALID", `${label}: not valid YAML (${(error as Error).message})`, {
      hint: "see the README for the inventory format",
    });
  }
  if (!isObject(doc)) {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${label}: expected a mapping with "proxies" (or an Ansible inventory)`,
      {
        hint: "see the README for the inventory format",
      },
    );
  }
  return "proxies" in doc ? parseNative(doc, label) : parseAnsibleYaml(doc, label);
}

function parseNative(doc: Vars, label: string): Proxy[] {
  checkKeys(doc, nativeKeys.top, label);
  const defaults = isYamlNull(doc.defaults) ? {} : doc.defaults;
  if (isObject(defaults)) checkKeys(defaults, nativeKeys.defaults, `${label}: defaults`);
  else {
    throw new SideloadError("INVENTORY_INVALID", `${label}: "defaults" must be a mapping`, {
      hint: "e.g. defaults: {user: root}",
    });
  }
  const list = doc.proxies;
  const entries: [string | undefined, unknown][] = Array.isArray(list)
    ? list.map((item) => [undefined, item])
    : isObject(list)
      ? Object.entries(list)
      : [];
  if (entries.length > inventoryLimits.maxProxies) throw tooManyProxies(label);
  if (entries.length === 0) {
    throw new SideloadError("INVENTORY_INVALID", `${label}: "proxies" lists no proxies`, {
      hint: "proxies:\n  - {name: cp-01, host: 10.0.0.5}",
    });
  }
  return entries.map(([key, item], index) => {
    const where = `${label}: proxies[${key ?? index}]`;
    if (!isObject(item))
      throw new SideloadError("INVENTORY_INVALID", `${where} must be a mapping`, {
        hint: "e.g. {host: 10.0.0.5}",
      });
    checkKeys(item, nativeKeys.proxy, where);
    const name = key ?? str(item.name, where, "name") ?? str(item.host, where, "host");
    if (!name)
      throw new SideloadError("INVENTORY_INVALID", `${where} has neither name nor host`, {
        hint: "e.g. {host: 10.0.0.5}",
      });
    const groups = item.groups ?? [];
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string")) {
      throw new SideloadError("INVENTORY_INVALID", `${where}: groups must be a list of names`, {
        hint: "e.g. groups: [east]",
      });
    }
    return proxyFrom(name, { ...defaults, ...item }, groups, where);
  });
}

/** Ansible YAML: every group has optional `hosts` (map), `vars` and `children`. */
function parseAnsibleYaml(doc: Vars, label: string): Proxy[] {
  const hosts = new Map<string, { vars: Vars; groups: Set<string> }>();
  const visit = (group: string, node: unknown, inherited: Vars, path: string[]) => {
    if (isYamlNull(node)) return;
    if (!isObject(node)) {
      throw new SideloadError("INVENTORY_INVALID", `${label}: group ${quote(group)} must be a mapping`, {
        hint: "Ansible YAML: all: {hosts: {...}, children: {...}}",
      });
    }
    if (path.includes(group)) return; // a cycle of children
    const vars = { ...inherited, ...(isObject(node.vars) ? node.vars : {}) };
    if (isObject(node.hosts)) {
      for (const [name, hostVars] of Object.entries(node.hosts)) {
        refuseHostRange(name, `${label}: group ${quote(group)}`);
        const entry = hosts.get(name) ?? { vars: {}, groups: new Set<string>() };
        entry.vars = { ...vars, ...entry.vars, ...(isObject(hostVars) ? hostVars : {}) };
        for (const g of [...path, group]) if (g !== "all") entry.groups.add(g);
        hosts.set(name, entry);
        if (hosts.size > inventoryLimits.maxProxies) throw tooManyProxies(label);
      }
    }
    if (isObject(node.children)) {
      for (const [child, childNode] of Object.entries(node.children))
        visit(child, childNode, vars, [...path, group]);
    }
  };
  for (const [group, node] of Object.entries(doc)) visit(group, node, {}, []);
  if (hosts.size === 0) {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${label}: no hosts found (neither "proxies" nor Ansible groups with hosts)`,
      {
        hint: "see the README for the inventory format",
      },
    );
  }
  return [...hosts].map(([name, { vars, groups }]) =>
    proxyFrom(name, ansibleVars(vars), [...groups], `${label}: ${name}`),
  );
}

/** Ansible INI: `[group]` host lines, `[group:vars]`, `[group:children]`. */
function parseAnsibleIni(text: string, label: string): Proxy[] {
  const groupHosts = new Map<string, Map<string, Vars>>();
  const groupVars = new Map<string, Vars>();
  const groupChildren = new Map<string, string[]>();
  let section = "ungrouped";
  let kind: "hosts" | "vars" | "children" = "hosts";
  let hostLines = 0;
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const where = `${label} line ${index + 1}`;
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(line);
    if (header) {
      section = header[1] ?? "";
      kind = (header[2] as "vars" | "children" | undefined) ?? "hosts";
      return;
    }
    if (kind === "vars") {
      const [key, value] = splitAssignment(line, where);
      groupVars.set(section, { ...groupVars.get(section), [key]: value });
    } else if (kind === "children") {
      groupChildren.set(section, [...(groupChildren.get(section) ?? []), line]);
    } else {
      const [name, ...assignments] = splitWords(line, where);
      refuseHostRange(name, where);
      const vars: Vars = {};
      for (const assignment of assignments) {
        const [key, value] = splitAssignment(assignment, where);
        vars[key] = value;
      }
      const hosts = groupHosts.get(section) ?? new Map<string, Vars>();
      hosts.set(name, { ...hosts.get(name), ...vars });
      groupHosts.set(section, hosts);
      if (++hostLines > inventoryLimits.maxProxies) throw tooManyProxies(label);
    }
  });
  // Resolve each host's groups (its own and every ancestor through :children) and variables
  // (group vars from the outermost ancestor inwards, then host vars).
  const parents = new Map<string, string[]>();
  for (const [parent, children] of groupChildren) {
    for (const child of children) parents.set(child, [...(parents.get(child) ?? []), parent]);
  }
  const ancestors = (group: string, seen = new Set<string>()): string[] => {
    if (seen.has(group)) return [];
    seen.add(group);
    return [...(parents.get(group) ?? []).flatMap((p) => ancestors(p, seen)), group];
  };
  const merged = new Map<string, { vars: Vars; groups: Set<string>; hostVars: Vars }>();
  for (const [group, hosts] of groupHosts) {
    const chain = ["all", ...ancestors(group)];
    for (const [name, hostVars] of hosts) {
      const entry = merged.get(name) ?? { vars: {}, groups: new Set<string>(), hostVars: {} };
      for (const g of chain) {
        entry.vars = { ...entry.vars, ...groupVars.get(g) };
        if (g !== "all" && g !== "ungrouped") entry.groups.add(g);
      }
      entry.hostVars = { ...entry.hostVars, ...hostVars };
      merged.set(name, entry);
    }
  }
  if (merged.size === 0) {
    throw new SideloadError("INVENTORY_INVALID", `${label}: no hosts found`, {
      hint: "[cloud_proxies]\ncp-01 ansible_host=10.0.0.5",
    });
  }
  return [...merged].map(([name, e]) =>
    proxyFrom(name, ansibleVars({ ...e.vars, ...e.hostVars }), [...e.groups], `${label}: ${name}`),
  );
}

/** Split a host line into the host name and its `key=value` words; quotes may hold spaces. */
function splitWords(line: string, where: string): [string, ...string[]] {
  const words: string[] = [];
  const re = /\s*((?:[^\s"']+|"[^"]*"|'[^']*')+)/g;
  let match: RegExpExecArray | null;
  while ((match = re.exec(line)) !== null) words.push(match[1] ?? "");
  const [name, ...rest] = words;
  if (name === undefined || name === "") {
    throw new SideloadError("INVENTORY_INVALID", `${where}: ${quote(line)} is not a host line`, {
      hint: "a host line is a name and optional key=value pairs, e.g. cp-01 ansible_host=10.0.0.5",
    });
  }
  return [name, ...rest];
}

function splitAssignment(text: string, where: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq <= 0) {
    throw new SideloadError("INVENTORY_INVALID", `${where}: ${quote(text)} is not key=value`, {
      hint: "e.g. ansible_host=10.0.0.5",
    });
  }
  const value = text.slice(eq + 1).trim();
  return [text.slice(0, eq).trim(), value.replace(/^(["'])(.*)\1$/, "$2")];
}

/**
 * Ansible host ranges (`cp[01:10]`, `cp[a:f]`, `cp[1:9:2]`) name many hosts in one line. They
 * are refused, in INI and YAML alike, rather than read as one proxy with a strange name.
 */
function refuseHostRange(name: string, where: string): void {
  if (/\[[^\]]*:[^\]]*\]/.test(name)) {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${where}: host ranges like ${quote(name)} are not supported`,
      { hint: "list each proxy on its own line" },
    );
  }
}

/** Refuse keys the native format does not have, naming the nearest one it does. */
function checkKeys(map: Vars, allowed: string[], where: string): void {
  for (const key of Object.keys(map)) {
    if (allowed.includes(key)) continue;
    const nearest = allowed
      .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
      .sort((a, b) => a.d - b.d)[0];
    const suggestion =
      nearest && nearest.d <= Math.max(2, Math.floor(nearest.k.length / 3))
        ? `did you mean ${quote(nearest.k)}? `
        : "";
    throw new SideloadError("INVENTORY_INVALID", `${where}: unknown key ${quote(key)}`, {
      hint: `${suggestion}the keys here are ${allowed.join(", ")}`,
    });
  }
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** A YAML null as the failsafe schema reads it (an empty value, `~` or `null`). */
function isYamlNull(value: unknown): boolean {
  return value === null || value === undefined || value === "" || value === "~" || value === "null";
}

function isObject(value: unknown): value is Vars {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Keep the proxies that match any `--limit` pattern: a group name or a proxy name, with `*`
 * and `?` wildcards. No patterns: all of them.
 */
export function selectProxies(proxies: Proxy[], patterns: string[]): Proxy[] {
  if (patterns.length === 0) return proxies;
  const regexes = patterns
    .flatMap((p) => p.split(/[,:]/))
    .filter((p) => p !== "")
    .map(
      (p) =>
        new RegExp(
          `^${p
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, ".*")
            .replace(/\?/g, ".")}$`,
        ),
    );
  return proxies.filter((proxy) =>
    regexes.some((re) => re.test(proxy.name) || re.test(proxy.host) || proxy.groups.some((g) => re.test(g))),
  );
}
