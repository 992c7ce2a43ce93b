/**
 * A host's variables as Ansible's VariableManager combines them (ansible-core 2.14, default
 * VARIABLE_PRECEDENCE, hash_behaviour=replace): the `all` group's inventory variables, then
 * each of the host's groups' inventory variables by (depth, ansible_group_priority, name), then
 * `group_vars/all`, then `group_vars/GROUP` in that order (each inventory source in turn), then
 * the host's own inventory variables, then `host_vars/HOST`.
 */
import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { SideloadError } from "../errors.js";
import { readTextFile } from "../files.js";
import type { AnsibleGroup, AnsibleHost, AnsibleInventory, Vars } from "./ansible-model.js";
import { parseYamlText } from "./yaml-text.js";

const varsExtensions = [".yml", ".yaml", ".json"];

/** A host's combined variables and the file each came from. */
export interface HostVars {
  vars: Vars;
  origins: Record<string, string>;
}

/** Reads group_vars/ and host_vars/ beside each inventory source, each file once per run. */
export class VarsFiles {
  private readonly listings = new Map<string, Promise<Map<string, boolean> | undefined>>();
  private readonly files = new Map<string, Promise<Vars | undefined>>();

  /**
   * The folders the sources are in, each once, at its last place: Ansible reads a folder's
   * files again for each source in it, and only the last reading can decide a value.
   */
  readonly bases: string[];

  constructor(
    bases: string[],
    private readonly maxBytes: number,
  ) {
    this.bases = bases.filter((b, i) => bases.lastIndexOf(b) === i);
  }

  /** The variable files for one group or host beside one source, in the order Ansible reads them. */
  async layers(
    base: string,
    kind: "group_vars" | "host_vars",
    name: string,
  ): Promise<{ file: string; vars: Vars }[]> {
    const out: { file: string; vars: Vars }[] = [];
    if (name.startsWith("/")) return out;
    for (const file of await this.find(join(base, kind), name)) {
      const vars = await this.read(file);
      if (vars !== undefined) out.push({ file, vars });
    }
    return out;
  }

  /** Ansible's find_vars_files: the first of NAME, NAME.yml, NAME.yaml, NAME.json; a folder's files. */
  private async find(dir: string, name: string): Promise<string[]> {
    const listing = await this.list(dir);
    if (!listing) return [];
    for (const candidate of ["", ...varsExtensions].map((ext) => name + ext)) {
      const isDir = listing.get(candidate);
      if (isDir === undefined) continue;
      const path = join(dir, candidate);
      return isDir ? this.folderFiles(path) : [path];
    }
    return [];
  }

  private list(dir: string): Promise<Map<string, boolean> | undefined> {
    let found = this.listings.get(dir);
    if (!found) {
      found = listFolder(dir);
      this.listings.set(dir, found);
    }
    return found;
  }

  private async folderFiles(dir: string): Promise<string[]> {
    const listing = (await listFolder(dir)) ?? new Map<string, boolean>();
    const out: string[] = [];
    for (const entry of [...listing.keys()].sort()) {
      if (entry.startsWith(".") || entry.endsWith("~")) continue;
      const ext = extname(entry);
      const path = join(dir, entry);
      if (listing.get(entry) === true) {
        if (ext === "") out.push(...(await this.folderFiles(path)));
      } else if (ext === "" || varsExtensions.includes(ext)) out.push(path);
    }
    return out;
  }

  private read(file: string): Promise<Vars | undefined> {
    let found = this.files.get(file);
    if (!found) {
      found = readVarsFile(file, this.maxBytes);
      this.files.set(file, found);
    }
    return found;
  }
}

/** Entry names of a folder, true for folders (symbolic links followed); undefined if none. */
async function listFolder(dir: string): Promise<Map<string, boolean> | undefined> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw new SideloadError("INVENTORY_INVALID", `${dir}: cannot list it (${(error as Error).message})`, {
      hint: "check the permissions of the inventory's group_vars and host_vars",
    });
  }
  const out = new Map<string, boolean>();
  for (const e of entries) {
    const isDir = e.isSymbolicLink()
      ? await stat(join(dir, e.name)).then(
          (s) => s.isDirectory(),
          () => false,
        )
      : e.isDirectory();
    out.set(e.name, isDir);
  }
  return out;
}

/** One vars file: YAML or JSON, a mapping or empty; vault-encrypted files are refused by name. */
async function readVarsFile(file: string, maxBytes: number): Promise<Vars | undefined> {
  const text = await readTextFile(file, {
    what: "variables file",
    hint: "check the inventory's group_vars and host_vars",
    maxBytes,
  });
  if (text.replace(/^\uFEFF/, "").startsWith("$ANSIBLE_VAULT;")) {
    throw new SideloadError("INVENTORY_VAULT", `${file} is encrypted with ansible-vault`, {
      hint: `decrypt it (ansible-vault decrypt ${file}) or pass the values another way`,
    });
  }
  const data = parseYamlText(text, file, "ansible");
  if (data === null || data === undefined || data === "") return undefined;
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new SideloadError("INVENTORY_INVALID", `${file}: expected a mapping of variables`, {
      hint: "e.g. ansible_user: root",
    });
  }
  return Object.keys(data).length === 0 ? undefined : (data as Vars);
}

/** Ansible's sort_groups: by depth, then ansible_group_priority, then name. */
export function sortGroups(groups: AnsibleGroup[], depths: Map<AnsibleGroup, number>): AnsibleGroup[] {
  return [...groups].sort(
    (a, b) =>
      (depths.get(a) ?? 0) - (depths.get(b) ?? 0) ||
      a.priority - b.priority ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** Combine one host's variables in Ansible's order of precedence (later wins). */
export async function combineHostVars(
  inv: AnsibleInventory,
  host: AnsibleHost,
  depths: Map<AnsibleGroup, number>,
  files: VarsFiles,
): Promise<HostVars> {
  const all = inv.groups.get("all");
  const groups = sortGroups(
    [...inv.hostGroups(host)].filter((g) => g.name !== "all"),
    depths,
  );
  const vars: Vars = {};
  const origins: Record<string, string> = {};
  const apply = (layer: Vars, origin: (key: string) => string | undefined) => {
    for (const [k, v] of Object.entries(layer)) {
      vars[k] = v;
      origins[k] = origin(k) ?? "";
    }
  };
  if (all) apply(all.vars, (k) => all.origins[k]);
  for (const g of groups) apply(g.vars, (k) => g.origins[k]);
  for (const base of files.bases) {
    for (const layer of await files.layers(base, "group_vars", "all")) apply(layer.vars, () => layer.file);
  }
  for (const base of files.bases) {
    for (const g of groups) {
      for (const layer of await files.layers(base, "group_vars", g.name)) apply(layer.vars, () => layer.file);
    }
  }
  apply(host.vars, (k) => host.origins[k]);
  for (const base of files.bases) {
    for (const layer of await files.layers(base, "host_vars", host.name)) apply(layer.vars, () => layer.file);
  }
  return { vars, origins };
}
