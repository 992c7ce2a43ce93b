/**
 * What the wizard finds in the folder it starts in: the paks (newest first, each with its kind
 * and version or the code of its problem) and the inventories; and the checks of what is typed
 * instead (a pak path, a registry, proxies), each the same check the command's flags get.
 */
import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SideloadError } from "../errors.js";
import { loadInventory } from "../inventory/load-inventory.js";
import { parseProxyArg, type Proxy } from "../inventory/proxy.js";
import type { Pak } from "../pak/read-pak.js";
import { readPaks } from "../pak/read-paks.js";
import { checkRegistry } from "../reference.js";

/** A pak of the folder, as the first question offers it. */
export interface FoundPak {
  file: string;
  mtime: number;
  label: string;
  /** The error code that makes it unreadable; undefined when it can be picked. */
  problem: string | undefined;
}

/** The folder's paks, newest first, each with a label (kind, version) or the code of its problem. */
export async function paksIn(cwd: string): Promise<FoundPak[]> {
  const names = (await readdir(cwd).catch(() => [])).filter((n) => n.toLowerCase().endsWith(".pak"));
  const found = await Promise.all(
    names.map(async (name): Promise<FoundPak> => {
      const file = join(cwd, name);
      const mtime = (await stat(file).catch(() => undefined))?.mtimeMs ?? 0;
      try {
        const pak = (await readPaks([file], undefined)).paks[0] as Pak;
        return { file, mtime, label: `${name}  ${describePak(pak)}`, problem: undefined };
      } catch (error) {
        const code = error instanceof SideloadError ? error.code : "INTERNAL";
        // A pak that names no registry is fine: the next step asks for it.
        return code === "NO_DEFAULT_REGISTRY"
          ? { file, mtime, label: `${name}  (uses the proxies' default registry)`, problem: undefined }
          : { file, mtime, label: name, problem: code };
      }
    }),
  );
  return found.sort((a, b) => b.mtime - a.mtime);
}

/** The inventories among `candidates` (the last one used, then the folder's YAML, INI and `hosts`). */
export async function inventoriesIn(
  cwd: string,
  last: string | undefined,
): Promise<{ file: string; proxies: Proxy[] }[]> {
  const candidates = new Set<string>();
  if (last !== undefined) candidates.add(last);
  for (const name of (await readdir(cwd).catch(() => [])).sort()) {
    if (/\.(ya?ml|ini)$/i.test(name) || name === "hosts") candidates.add(join(cwd, name));
  }
  const inventories: { file: string; proxies: Proxy[] }[] = [];
  for (const file of candidates) {
    try {
      inventories.push({ file, proxies: await loadInventory(file, "root", false) });
    } catch {
      // not an inventory (another YAML file of the folder): not offered
    }
  }
  return inventories;
}

/** A typed pak path is accepted only when `inspect` would read it; else inspect's error, inline. */
export function validatePakPath(cwd: string): (value: string) => Promise<string | true> {
  return async (value) => {
    try {
      await readPaks([resolve(cwd, value)], undefined);
      return true;
    } catch (error) {
      if (error instanceof SideloadError && error.code === "NO_DEFAULT_REGISTRY") return true;
      return error instanceof SideloadError ? `${error.code}: ${error.message}` : String(error);
    }
  };
}

/** A registry host[:port] as the reference grammar takes it. */
export function validateRegistry(value: string): string | true {
  const check = checkRegistry(value);
  return check.ok ? true : `${check.problem} (e.g. ${check.example})`;
}

/** `[user@]host[:port]` entries separated by commas or spaces. */
export function validateProxyList(value: string): string | true {
  try {
    const list = splitProxyList(value);
    if (list.length === 0) return "give at least one proxy";
    list.forEach((p) => parseProxyArg(p, "root"));
    return true;
  } catch (error) {
    return error instanceof SideloadError ? error.message : String(error);
  }
}

/** The entries of a typed proxy list. */
export function splitProxyList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

function describePak(pak: Pak): string {
  return `${pak.adapters.map((a) => a.kind).join(", ")} ${pak.version}`;
}
