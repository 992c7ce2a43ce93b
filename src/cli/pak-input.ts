import { SideloadError, quote } from "../errors.js";
import { readPak, type Pak } from "../pak/read-pak.js";
import { checkRegistry } from "../reference.js";
import type { AdapterImage } from "../sideload/types.js";

/**
 * Read the pak a command works on, checking `--default-registry` first even when the pak does
 * not need it (a typo there is a usage error either way), and list its image references.
 */
export async function readPakInput(
  file: string,
  defaultRegistry: string | undefined,
): Promise<{ pak: Pak; images: AdapterImage[] }> {
  if (defaultRegistry !== undefined) {
    const check = checkRegistry(defaultRegistry);
    if (!check.ok) {
      throw new SideloadError("USAGE", `--default-registry ${quote(defaultRegistry)} ${check.problem}`, {
        hint: `e.g. --default-registry ${check.example}`,
      });
    }
  }
  const pak = await readPak(file, { defaultRegistry });
  const images = pak.adapters.map((a) => ({
    kind: a.kind,
    registry: a.registry,
    repository: a.repository,
    digest: a.digest,
    reference: a.reference,
  }));
  return { pak, images };
}
