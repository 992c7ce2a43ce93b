/**
 * `check-registry <pak>`: the registry as the proxies will see it, asked from this machine.
 * Changes nothing anywhere.
 */
import { SideloadError, oneLine } from "../../errors.js";
import { preflightRegistries, type RegistryPreflight } from "../../registry/preflight.js";
import { rateLimitWaitMessage } from "../../registry/registry-client.js";
import type { RegistryVerdict } from "../../registry/registry-client.js";
import { parseCommandArgs } from "../args.js";
import { credentialOptionSpecs, credentialOptionsHelp, credentialResolver } from "../credential-options.js";
import type { Pak } from "../../pak/read-pak.js";
import { readPaks } from "../../pak/read-paks.js";
import { readCaOption } from "../../registry/ca-file.js";
import type { CommandContext, CommandResult } from "../results.js";

const help = `Usage: mp-sideload check-registry <pak>... [--json] [--registry-ca FILE] [credential options]

Check from this machine that each adapter image of a pak can be pulled by its exact digest:
anonymously (then the proxies pull it themselves and no sideload is needed), or with the
registry credentials; that the manifest is there with that digest; and that an image index
holds linux/amd64. Changes nothing.

  --json                      one JSON document on stdout
  --registry-ca FILE          also trust this PEM CA (besides the system's and /etc/docker/certs.d)
  --default-registry HOST     the proxies' default registry, for a pak whose .conf names none
  --debug                     stack traces on errors
${credentialOptionsHelp}
Exit status: 0 every reference can be pulled, 1 one cannot, 2 usage or input error.
`;

/** One row of the result: a reference and what the registry said of it. */
export interface CheckRow extends RegistryVerdict {
  credentialSource: string;
}

/** Flatten the preflight into one row per reference, in the pak's order. */
export function checkRows(references: string[], preflight: RegistryPreflight[]): CheckRow[] {
  return references.flatMap((reference) =>
    preflight.flatMap((p) =>
      p.verdicts
        .filter((v) => v.reference === reference)
        .map((v) => ({ ...v, credentialSource: p.credentialSource })),
    ),
  );
}

export async function run({ argv, terminal }: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parseCommandArgs("check-registry", argv, {
    json: { type: "boolean" },
    "registry-ca": { type: "string" },
    "default-registry": { type: "string" },
    debug: { type: "boolean" },
    help: { type: "boolean", short: "h" },
    ...credentialOptionSpecs,
  });
  if (values.help) {
    terminal.out(help);
    return { kind: "shown" };
  }
  if (positionals.length === 0) {
    throw new SideloadError("USAGE", "check-registry: missing pak file", {
      hint: "e.g. mp-sideload check-registry my-adapter.pak (several paks, or a folder of them, are fine)",
    });
  }
  const { paks, images } = await readPaks(positionals, values["default-registry"]);
  const pakOf = (p: Pak) => ({ file: p.file, name: p.name, version: p.version });
  const ca = values["registry-ca"] === undefined ? undefined : await readCaOption(values["registry-ca"]);
  const resolver = await credentialResolver(values, terminal);
  const preflight = await preflightRegistries(images, resolver, {
    ca,
    env: terminal.env,
    signal: terminal.signal,
    prompt: terminal.interactive,
    onWait: (wait) => terminal.err(`mp-sideload: ${rateLimitWaitMessage(wait)}\n`),
  });
  const rows = checkRows(
    images.map((t) => t.reference),
    preflight,
  );
  const ok = rows.filter((r) => r.status !== "failed").length;
  if (values.debug) {
    for (const p of preflight) terminal.err(`debug: ${p.registry}: credentials from ${p.credentialSource}\n`);
  }
  const summary = { ok, failed: rows.length - ok, total: rows.length };
  terminal.out(
    values.json
      ? `${JSON.stringify(
          {
            command: "check-registry",
            pak: pakOf(paks[0] as Pak),
            ...(paks.length > 1 ? { paks: paks.map(pakOf) } : {}),
            references: images.map((t) => t.reference),
            registries: preflight.map((p) => ({
              registry: p.registry,
              credentialSource: p.credentialSource,
            })),
            results: rows,
            summary,
          },
          null,
          2,
        )}\n`
      : renderCheckHuman(rows, summary),
  );
  return { kind: "checked", failed: summary.failed };
}

function renderCheckHuman(rows: CheckRow[], summary: { ok: number; failed: number; total: number }): string {
  const lines = rows.map((r) => {
    const mark = r.status === "failed" ? "FAILED" : r.status;
    const what =
      r.status === "public"
        ? "anonymous pulls work: the proxies can pull it themselves at install time; no sideload needed"
        : r.status === "ok"
          ? `pullable with the credentials from ${r.credentialSource}${r.mediaType ? ` (${r.mediaType})` : ""}`
          : `${r.error?.code ?? "FAILED"}: ${oneLine(r.error?.message ?? "")}${r.error?.hint ? `\n        hint: ${oneLine(r.error.hint)}` : ""}`;
    return `${mark.padEnd(7)} ${r.reference}\n        ${what}`;
  });
  return `${lines.join("\n")}\n${summary.ok} pullable, ${summary.failed} not, ${summary.total} in all\n`;
}
