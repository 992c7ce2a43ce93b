/**
 * Reading inventories: mp-sideload's native YAML, or Ansible inventories as ansible-core 2.14
 * reads them (INI and YAML files, folders of them, several sources merged, host ranges,
 * group_vars/ and host_vars/ beside each source, Ansible's variable precedence).
 */
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join, posix, resolve, win32 } from "node:path";
import { SideloadError, quote } from "../errors.js";
import { describeFsError, homeDir, readTextFile } from "../files.js";
import { registerSecret } from "../redact.js";
import { AnsibleInventory } from "./ansible-model.js";
import { parseAnsibleIni, parseAnsibleYaml } from "./ansible-parse.js";
import { ansibleConnection, ansibleNames, becomeOf, pick, text } from "./ansible-proxy.js";
import { parseAddress } from "./ansible-syntax.js";
import { VarsFiles, combineHostVars, type HostVars } from "./ansible-vars.js";
import type { HostIndex } from "./host-pattern.js";
import { isObject, nativeLookalike, parseNative, checkKeys, nativeKeys } from "./native-inventory.js";
import { checkDockerSocket, jumpsFrom, type Proxy } from "./proxy.js";
import { parseYamlText } from "./yaml-text.js";

export { selectProxies } from "./host-pattern.js";

/**
 * What an inventory may hold. A VCF Operations deployment has tens to hundreds of cloud
 * proxies; past these limits a file is refused (exit 2) before it can exhaust memory.
 */
export const inventoryLimits = {
  /** Bytes of inventory text per file. 10,000 proxies in native YAML take about 1 MB. */
  maxBytes: 8 * 1024 * 1024,
  /** Proxies in one run's inventories, after host ranges are expanded. */
  maxProxies: 10_000,
  /** Files and folders in an inventory folder tree (`--inventory /` is a mistake, not a walk). */
  maxFolderEntries: 1_000,
};

/** The proxies of the inventories, and what `--limit` needs to know about their groups. */
export interface LoadedInventory {
  proxies: Proxy[];
  index: HostIndex;
}

/** How inventories are read. */
export interface LoadOptions {
  /** The SSH user of a proxy for which the inventory names none. */
  defaultUser: string;
  /** Whether that user was given (--ssh-user), or is a default the ssh config may replace. */
  userGiven?: boolean;
  /** Told of what Ansible would warn about too (a password file others can read). */
  onWarning?: (message: string) => void;
}

function tooManyProxies(label: string): never {
  throw new SideloadError(
    "INVENTORY_TOO_LARGE",
    `${label}: more than ${inventoryLimits.maxProxies.toLocaleString("en")} proxies`,
    { hint: "split the inventory, or select a part of it with --limit in separate runs" },
  );
}

/** Read an inventory file or folder (compatibility form of loadInventories). */
export async function loadInventory(file: string, defaultUser: string, userGiven = true): Promise<Proxy[]> {
  return (await loadInventories([file], { defaultUser, userGiven })).proxies;
}

/**
 * Read inventory sources as `ansible -i A -i B` does: each a file, a folder of files, or a
 * comma list of hosts; merged in order. A native inventory stands alone.
 */
export async function loadInventories(sources: string[], options: LoadOptions): Promise<LoadedInventory> {
  const label = sources.map((s) => basename(s)).join(", ");
  const reader = new SourceReader(label);
  for (const source of sources) await reader.readSource(source, true);
  return reader.finish(options, sources.length);
}

/**
 * Parse one inventory's text; `file` names it in messages, anchors relative key paths and
 * places its group_vars/ and host_vars/ (read when they exist).
 */
export async function parseInventory(
  text: string,
  file: string,
  defaultUser: string,
  userGiven = true,
): Promise<Proxy[]> {
  const reader = new SourceReader(basename(file));
  reader.bases.push(dirname(resolve(file)));
  reader.parseText(text, file, basename(file));
  return (await reader.finish({ defaultUser, userGiven }, 1)).proxies;
}

/** Ansible's INVENTORY_IGNORE_EXTS and the names it always skips in an inventory folder. */
const ignoredInFolder =
  /^\.|^host_vars$|^group_vars$|^vars_plugins$|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$/;

/** Files in an inventory folder tree, walked as Ansible does (sorted, depth first), bounded. */
async function folderFiles(folder: string): Promise<string[]> {
  const files: string[] = [];
  let entries = 0;
  const walk = async (dir: string) => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      if (ignoredInFolder.test(entry.name)) continue;
      if (++entries > inventoryLimits.maxFolderEntries) {
        throw new SideloadError(
          "INVENTORY_TOO_LARGE",
          `${folder}: the inventory folder holds more than ${inventoryLimits.maxFolderEntries.toLocaleString("en")} files and folders`,
          {
            hint: "give --inventory the folder of the inventory itself (its files, group_vars and host_vars)",
          },
        );
      }
      const path = join(dir, entry.name);
      const isDir = entry.isSymbolicLink()
        ? await stat(path).then(
            (s) => s.isDirectory(),
            () => false,
          )
        : entry.isDirectory();
      if (isDir) await walk(path);
      else files.push(path);
    }
  };
  await walk(folder);
  return files;
}

class SourceReader {
  readonly inv: AnsibleInventory;
  readonly bases: string[] = [];
  native: { proxies: Proxy[]; file: string } | undefined;
  files = 0;

  constructor(private readonly label: string) {
    this.inv = new AnsibleInventory(() => tooManyProxies(label), inventoryLimits.maxProxies);
  }

  async readSource(source: string, top: boolean): Promise<void> {
    const info = await stat(source).catch((error: NodeJS.ErrnoException) => error);
    if (info instanceof Error) {
      if (top && source.includes(",")) return this.hostList(source);
      const code = info.code;
      throw new SideloadError(
        code === "ENOENT" || code === "ENOTDIR" ? "FILE_NOT_FOUND" : "FILE_UNREADABLE",
        `${source}: cannot read the inventory: ${describeFsError(info)}`,
        { hint: "check the path given to --inventory" },
      );
    }
    if (top) this.bases.push(info.isDirectory() ? resolve(source) : dirname(resolve(source)));
    if (info.isDirectory()) {
      for (const file of await folderFiles(source)) await this.readFile(file);
      return;
    }
    await this.readFile(source);
  }

  private async readFile(source: string): Promise<void> {
    const text = await readTextFile(source, {
      what: "inventory",
      hint: "check the path given to --inventory",
      maxBytes: inventoryLimits.maxBytes,
      tooLarge: (size) =>
        new SideloadError(
          "INVENTORY_TOO_LARGE",
          `${source}: the inventory is ${size.toLocaleString("en")} bytes, more than the ${inventoryLimits.maxBytes.toLocaleString("en")} mp-sideload reads`,
          { hint: "split the inventory, or select a part of it with --limit in separate runs" },
        ),
    });
    if (text.includes("\0")) {
      throw new SideloadError("INVENTORY_INVALID", `${source}: not a text file`, {
        hint: "give --inventory an INI or YAML inventory, or a folder of them",
      });
    }
    this.parseText(text, source, basename(source));
  }

  /** Ansible's host_list source: `-i 'cp-1,cp-2:2222,'`. */
  private hostList(source: string): void {
    for (const word of source.split(",").map((w) => w.trim())) {
      if (word === "") continue;
      const address = parseAddress(word);
      this.inv.addHost(address?.host ?? word, "ungrouped", address?.port, "--inventory");
    }
  }

  parseText(text: string, file: string, label: string): void {
    this.files++;
    const trimmed = text.replace(/^\uFEFF/, "").trimStart();
    const ext = extname(file).toLowerCase();
    if (trimmed.startsWith("#!")) {
      throw new SideloadError("INVENTORY_INVALID", `${label}: an inventory script (it starts with #!)`, {
        hint: "mp-sideload runs no inventory scripts: save its output with ansible-inventory -i SCRIPT --list -y > inventory.yml",
      });
    }
    if (ext === ".toml") {
      throw new SideloadError("INVENTORY_INVALID", `${label}: TOML inventories are not read`, {
        hint: "convert it with ansible-inventory -i FILE --list -y > inventory.yml",
      });
    }
    const budget = () => inventoryLimits.maxProxies - this.inv.hosts.size;
    const tooMany = () => tooManyProxies(label);
    const yamlish = ["", ".yml", ".yaml", ".json"].includes(ext);
    if (trimmed.startsWith("[") || !yamlish) {
      parseAnsibleIni(text, { label, file, inv: this.inv, budget, onTooMany: tooMany });
      return;
    }
    let doc: unknown;
    try {
      doc = parseYamlText(text, label, "ansible");
    } catch (error) {
      // As Ansible does, a file without an extension that is not YAML is tried as INI.
      if (ext !== "" || (error as SideloadError).code === "INVENTORY_TOO_LARGE") throw error;
    }
    if (!isObject(doc)) {
      if (ext === "")
        return parseAnsibleIni(text, { label, file, inv: this.inv, budget, onTooMany: tooMany });
      throw new SideloadError(
        "INVENTORY_INVALID",
        `${label}: expected a mapping with "proxies" (or an Ansible inventory)`,
        {
          hint: "see the README for the inventory format",
        },
      );
    }
    if ("proxies" in doc) return this.readNative(text, file, label);
    if (nativeLookalike(doc) !== undefined) {
      // A native inventory with a typo gets the native format's message, not Ansible's.
      checkKeys(doc, nativeKeys.top, label);
      throw new SideloadError("INVENTORY_INVALID", `${label}: "proxies" is missing`, {
        hint: "proxies:\n  - {name: cp-01, host: 10.0.0.5}",
      });
    }
    parseAnsibleYaml(doc, { label, file, inv: this.inv, budget, onTooMany: tooMany });
  }

  private readNative(text: string, file: string, label: string): void {
    const doc = parseYamlText(text, label, "native");
    if (!isObject(doc))
      throw new SideloadError("INVENTORY_INVALID", `${label}: expected a mapping`, {
        hint: "see the README",
      });
    this.native = {
      proxies: parseNative(doc, label, inventoryLimits.maxProxies, () => tooManyProxies(label)),
      file,
    };
  }

  async finish(options: LoadOptions, sources: number): Promise<LoadedInventory> {
    if (this.native) {
      if (sources > 1 || this.files > 1) {
        throw new SideloadError(
          "INVENTORY_INVALID",
          `${this.label}: a native inventory (${basename(this.native.file)}) cannot be merged with others`,
          {
            hint: "give it alone to --inventory, or write the others in the same format",
          },
        );
      }
      return nativeResult(this.native.proxies, this.native.file, options);
    }
    this.inv.reconcile();
    if (this.inv.hosts.size === 0) {
      throw new SideloadError(
        "INVENTORY_INVALID",
        `${this.label}: no hosts found (neither "proxies" nor Ansible groups with hosts)`,
        {
          hint: "[cloud_proxies]\ncp-01 ansible_host=10.0.0.5",
        },
      );
    }
    return this.ansibleResult(options);
  }

  private async ansibleResult(options: LoadOptions): Promise<LoadedInventory> {
    const depths = this.inv.depths();
    const files = new VarsFiles(this.bases, inventoryLimits.maxBytes);
    const all = this.inv.groups.get("all");
    const order = all ? this.inv.groupHosts(all) : [...this.inv.hosts.values()];
    const warned = new Set<string>();
    const proxies: Proxy[] = [];
    for (const host of order) {
      const hv = await combineHostVars(this.inv, host, depths, files);
      const groups = [...this.inv.hostGroups(host)]
        .map((g) => g.name)
        .filter((g) => g !== "all" && g !== "ungrouped")
        .sort();
      const proxy = ansibleProxy(host.name, hv, groups, `${this.label}: ${host.name}`, options);
      await warnReadablePassword(hv, warned, options.onWarning);
      proxies.push(proxy);
    }
    const groups = new Map<string, string[]>();
    for (const [name, group] of this.inv.groups)
      groups.set(
        name,
        this.inv.groupHosts(group).map((h) => h.name),
      );
    return { proxies, index: { hosts: [...this.inv.hosts.keys()], groups } };
  }
}

function nativeResult(parsed: Proxy[], file: string, options: LoadOptions): LoadedInventory {
  const base = dirname(resolve(file));
  const seen = new Set<string>();
  const proxies = parsed.map((p) => {
    if (seen.has(p.name)) {
      throw new SideloadError(
        "INVENTORY_INVALID",
        `${basename(file)}: proxy ${quote(p.name)} is listed twice`,
        {
          hint: "give each proxy a unique name",
        },
      );
    }
    seen.add(p.name);
    return withDefaults(p, base, options);
  });
  const groups = new Map<string, string[]>([
    ["all", proxies.map((p) => p.name)],
    ["ungrouped", proxies.filter((p) => p.groups.length === 0).map((p) => p.name)],
  ]);
  for (const p of proxies) {
    for (const g of p.groups) {
      const members = groups.get(g);
      if (members) members.push(p.name);
      else groups.set(g, [p.name]);
    }
  }
  return { proxies, index: { hosts: proxies.map((p) => p.name), groups } };
}

/** The default user where none is named, and key paths relative to `base` (or `~`). */
function withDefaults(p: Proxy, base: string, options: LoadOptions): Proxy {
  const userGiven = options.userGiven ?? true;
  const defaulted = [...(p.defaulted ?? []), ...(p.user || userGiven ? [] : (["user"] as const))];
  return {
    ...p,
    user: p.user || options.defaultUser,
    identity: p.identity === undefined ? undefined : expandPath(p.identity, base),
    ...(defaulted.length > 0 ? { defaulted } : { defaulted: undefined }),
  };
}

function expandPath(path: string, base: string): string {
  return inventoryPath(path, base, process.env, process.platform);
}

/**
 * A path an inventory names (an identity file), as the user on that platform writes it: `~/…`
 * is in the home folder (also `~\…` on Windows), a relative path is from the inventory's folder,
 * and on Windows a drive letter (`C:\keys\id`, `C:/keys/id`) or a UNC path stands as it is.
 */
export function inventoryPath(
  path: string,
  base: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
): string {
  const paths = platform === "win32" ? win32 : posix;
  const home = platform === "win32" ? /^~(?:[\\/]|$)/ : /^~(?:\/|$)/;
  if (home.test(path)) return paths.resolve(homeDir(env, platform), path.slice(2));
  return paths.resolve(base, path);
}

/** The folder a variable's file belongs to: the source's, for group_vars/ and host_vars/ files. */
function baseOf(file: string): string {
  // Either separator: a Windows path has backslashes (and may have slashes too).
  const m = /^(.*?)[\\/](?:group_vars|host_vars)[\\/]/.exec(file);
  return m ? (m[1] ?? "/") : dirname(resolve(file));
}

function ansibleProxy(
  name: string,
  hv: HostVars,
  groups: string[],
  where: string,
  options: LoadOptions,
): Proxy {
  const conn = ansibleConnection(name, hv, where);
  const jumpSpecs = jumpsFrom(
    hv.vars.mp_sideload_jump ?? undefined,
    [hv.vars.ansible_ssh_common_args, hv.vars.ansible_ssh_extra_args],
    where,
  );
  const become = becomeOf(hv, where);
  registerSecret(conn.password);
  registerSecret(become?.password);
  const identityFile = pick(hv, ansibleNames.identity)?.file ?? "";
  const proxy: Proxy = {
    name,
    host: conn.host,
    port: conn.port,
    user: conn.user,
    identity: conn.identity,
    dockerSocket: checkDockerSocket(text(hv, ansibleNames.dockerSocket, where), where),
    groups,
    ...(jumpSpecs === undefined ? {} : { jumpSpecs }),
    ...(conn.portGiven ? {} : { defaulted: ["port"] as ("user" | "port")[] }),
    ...(conn.password === undefined ? {} : { password: conn.password }),
    ...(become === undefined ? {} : { become }),
  };
  return withDefaults(proxy, identityFile ? baseOf(identityFile) : process.cwd(), options);
}

/** Warn once per file when the file holding an SSH or sudo password can be read by others. */
async function warnReadablePassword(
  hv: HostVars,
  warned: Set<string>,
  onWarning: ((message: string) => void) | undefined,
): Promise<void> {
  for (const names of [ansibleNames.password, ansibleNames.becomePassword]) {
    const found = pick(hv, names);
    if (!found || !found.file || found.file === "--inventory" || warned.has(found.file)) continue;
    warned.add(found.file);
    const mode = await stat(found.file).then(
      (s) => s.mode,
      () => undefined,
    );
    if (mode !== undefined && (mode & 0o077) !== 0) {
      onWarning?.(
        `${found.file} holds ${found.name} and can be read by others than its owner (mode ${(mode & 0o777).toString(8)}): chmod 600 ${found.file}`,
      );
    }
  }
}
