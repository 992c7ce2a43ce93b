import { basename } from "node:path";
import { oneLine } from "../../errors.js";
import type { Pak } from "../../pak/read-pak.js";

/** The `inspect --json` document of the design. */
export function pakDocument(pak: Pak) {
  return {
    pak: { file: pak.file, name: pak.name, version: pak.version },
    adapters: pak.adapters.map((a) => ({
      kind: a.kind,
      registry: a.registry,
      repository: a.repository,
      digest: a.digest,
      reference: a.reference,
    })),
  };
}

export function renderPakJson(pak: Pak): string {
  return `${JSON.stringify(pakDocument(pak), null, 2)}\n`;
}

/** Human output. Pak text is untrusted: it is flattened to one line before it is shown. */
export function renderPakHuman(pak: Pak): string {
  const lines = [`${oneLine(pak.name)} ${oneLine(pak.version)}  (${basename(pak.file)})`];
  for (const a of pak.adapters) {
    lines.push(
      "",
      `  adapter     ${a.kind}`,
      `  registry    ${a.registry}${a.defaultRegistry ? "  (from --default-registry)" : ""}`,
      `  repository  ${a.repository}`,
      `  digest      ${a.digest}`,
      `  reference   ${a.reference}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
