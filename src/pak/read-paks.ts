/**
 * The paks a run works on: files, or folders of them, read and checked before anything is
 * contacted, and the adapter images they reference, each reference once.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { SideloadError, quote } from "../errors.js";
import { checkRegistry, type ImageReference } from "../reference.js";
import { readPak, type Pak } from "./read-pak.js";

/** An adapter image to put on (or look for on) every proxy. */
export interface AdapterImage extends ImageReference {
  /** `REGISTRY + REPOSITORY + "@" + DIGEST`, verbatim. */
  reference: string;
  kind: string;
}

/** More paks than any maintenance window holds: a folder of more is refused. */
const maxPaks = 100;

/**
 * Read every pak of `paths` (a folder stands for the `*.pak` files in it, in name order),
 * checking `--default-registry` first even when no pak needs it (a typo there is a usage error
 * either way). The images are listed in pak order, each reference once.
 */
export async function readPaks(
  paths: string[],
  defaultRegistry: string | undefined,
): Promise<{ paks: Pak[]; images: AdapterImage[] }> {
  if (defaultRegistry !== undefined) {
    const check = checkRegistry(defaultRegistry);
    if (!check.ok) {
      throw new SideloadError("USAGE", `--default-registry ${quote(defaultRegistry)} ${check.problem}`, {
        hint: `e.g. --default-registry ${check.example}`,
      });
    }
  }
  const files = (await Promise.all(paths.map(pakFilesOf))).flat();
  if (files.length > maxPaks) {
    throw new SideloadError("USAGE", `${files.length} paks given; mp-sideload takes at most ${maxPaks}`, {
      hint: "run it in parts",
    });
  }
  const paks: Pak[] = [];
  for (const file of new Set(files)) paks.push(await readPak(file, { defaultRegistry }));
  const images = new Map<string, AdapterImage>();
  for (const adapter of paks.flatMap((p) => p.adapters)) {
    if (images.has(adapter.reference)) continue;
    images.set(adapter.reference, {
      kind: adapter.kind,
      registry: adapter.registry,
      repository: adapter.repository,
      digest: adapter.digest,
      reference: adapter.reference,
    });
  }
  return { paks, images: [...images.values()] };
}

/** A pak file as given, or the `*.pak` files of a folder. */
async function pakFilesOf(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) return [path]; // readPak names what is wrong with it
  const names = (await readdir(path)).filter((n) => n.toLowerCase().endsWith(".pak")).sort();
  if (names.length === 0) {
    throw new SideloadError("FILE_NOT_FOUND", `${path}: a folder with no .pak file in it`, {
      hint: "give a .pak file, or a folder that holds some",
    });
  }
  return names.map((n) => join(path, n));
}
