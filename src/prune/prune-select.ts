/**
 * Which images `prune` removes on a proxy: a pure rule over what the engine lists. Old images of
 * the paks' repositories go, except the current digests, any image a container uses (running or
 * stopped) and the `keep` most recent per repository; nothing of any other repository is touched,
 * not even a name another repository gives to an image being pruned.
 */
import type { EngineImage } from "../engine/engine.js";
import { normalizeReference } from "../reference.js";

/** `--keep`'s default: one old image per repository, besides the current ones, to go back to. */
export const defaultPruneKeep = 1;

/** What decides the selection. */
export interface PruneRule {
  /** The paks' references: their repositories are pruned, their digests are current and stay. */
  current: string[];
  /** Image IDs that containers use (running or stopped). */
  inUse: ReadonlySet<string>;
  /** Old images kept per repository besides the current ones, the most recent first. */
  keep: number;
}

/** An image of a pruned repository, and why it is selected or kept. */
export interface PruneImage {
  id: string;
  /** The repository as the pak names it (`REGISTRY/REPOSITORY`). */
  repository: string;
  /** Its names in that repository (`repo@digest`, `repo:tag`), as the engine lists them. */
  names: string[];
  size: number;
  /** Seconds since the epoch. */
  created: number;
}

/** An image to remove: its names in the repository are deleted, one by one, without force. */
export interface PruneCandidate extends PruneImage {
  /**
   * The image has names of other repositories too: only this repository's names go, and the
   * image (and its bytes) stays under its other names.
   */
  untagOnly: boolean;
}

export interface KeptImage extends PruneImage {
  reason: "current" | "in-use" | "keep";
}

export interface PruneSelection {
  remove: PruneCandidate[];
  kept: KeptImage[];
}

/**
 * The characters of an image name in the distribution grammar. A name with others (an engine's
 * answer is not trusted blindly) is never sent back in a request path, where `?` or `#` would
 * change the request: it belongs to no pruned repository, and its image is only untagged.
 */
const plainName = /^[A-Za-z0-9][A-Za-z0-9._:/@[\]-]*$/;

/** The repository of an image name (`host/path:tag`, `host/path@digest`), normalized; none for `<none>`. */
export function repositoryOfName(name: string): string | undefined {
  if (name.startsWith("<none>") || !plainName.test(name)) return undefined;
  const normalized = normalizeReference(name);
  if (normalized === undefined) return undefined;
  const at = normalized.indexOf("@");
  const named = at < 0 ? normalized : normalized.slice(0, at);
  const colon = named.indexOf(":", named.lastIndexOf("/") + 1);
  return colon < 0 ? named : named.slice(0, colon);
}

/** Select what to remove from `images` by `rule`; the result lists what stays too, and why. */
export function selectPrunable(images: readonly EngineImage[], rule: PruneRule): PruneSelection {
  // Pruned repositories, normalized → as the pak writes them.
  const repositories = new Map<string, string>();
  for (const reference of rule.current) {
    const repository = repositoryOfName(reference);
    if (repository !== undefined && !repositories.has(repository)) {
      repositories.set(repository, reference.slice(0, reference.lastIndexOf("@")));
    }
  }
  const current = new Set(rule.current.map((r) => normalizeReference(r) ?? r));
  const kept: KeptImage[] = [];
  const candidates = new Map<string, PruneCandidate[]>();
  for (const image of images) {
    const byRepository = namesByRepository(image);
    const isCurrent = image.repoDigests.some((d) => current.has(normalizeReference(d) ?? d));
    for (const [normalized, names] of byRepository) {
      const repository = repositories.get(normalized);
      if (repository === undefined) continue;
      const entry = { id: image.id, repository, names, size: image.size, created: image.created };
      if (isCurrent) kept.push({ ...entry, reason: "current" });
      else if (rule.inUse.has(image.id)) kept.push({ ...entry, reason: "in-use" });
      else {
        const list = candidates.get(normalized) ?? [];
        list.push({ ...entry, untagOnly: byRepository.size > 1 });
        candidates.set(normalized, list);
      }
    }
  }
  const remove: PruneCandidate[] = [];
  for (const list of candidates.values()) {
    list.sort((a, b) => b.created - a.created || a.id.localeCompare(b.id));
    const keep = Math.max(0, rule.keep);
    for (const c of list.slice(0, keep)) {
      const { untagOnly: _, ...image } = c;
      kept.push({ ...image, reason: "keep" });
    }
    remove.push(...list.slice(keep));
  }
  return { remove, kept };
}

/** An image's names (tags and repo digests), grouped by normalized repository. */
function namesByRepository(image: EngineImage): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const name of [...image.repoDigests, ...image.repoTags]) {
    if (name.startsWith("<none>")) continue;
    // An odd name counts as another repository's: the image keeps it, and so is only untagged.
    const repository = repositoryOfName(name) ?? "\0odd";
    const list = groups.get(repository) ?? [];
    if (!list.includes(name)) list.push(name);
    groups.set(repository, list);
  }
  return groups;
}
