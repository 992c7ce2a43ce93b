/**
 * `proxies --ops URL`: what VCF Operations knows (collectors, their groups, the instances of
 * the kinds asked about), as a table or JSON, and optionally as a native inventory to edit.
 * Contacts no proxy.
 */
import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { SideloadError, printable } from "../../errors.js";
import { describeFsError } from "../../files.js";
import { describeOpsView, readOpsView, type OpsCollectorRow } from "../../ops/ops-source.js";
import { findCollectorGroups } from "../../ops/resolve.js";
import { readPak } from "../../pak/read-pak.js";
import { parseCommandArgs } from "../args.js";
import { opsConnectionFrom, opsConnectionHelp, opsOptionSpecs, opsUrlOf } from "../ops-options.js";
import type { CommandContext, CommandResult } from "../results.js";

const help = `Usage: mp-sideload proxies --ops URL [--json] [--kind KIND | --pak PAK] [--write-inventory FILE]

List the collectors VCF Operations knows: name, host, type, state, collector groups, and the
adapter instances of --kind (repeatable) or of a pak's adapter kinds. Contacts no proxy.

${opsConnectionHelp}  --collector-group NAME      only the members of this collector group (repeatable)
  --kind KIND                 show the instances of this adapter kind (repeatable)
  --pak PAK                   show the instances of this pak's adapter kinds
  --write-inventory FILE      write the cloud proxies as a native inventory, collector groups as groups
  --json                      one JSON document on stdout
  --debug                     each Suite API call and its status (never a secret); stack traces
Exit status: 0 listed, 2 usage, credentials or VCF Operations error.
`;

export async function run({ argv, terminal }: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parseCommandArgs("proxies", argv, {
    ...opsOptionSpecs,
    kind: { type: "string", multiple: true },
    pak: { type: "string" },
    "write-inventory": { type: "string" },
    json: { type: "boolean" },
    debug: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    terminal.out(help);
    return { kind: "shown" };
  }
  if (positionals.length > 0 || (values.kind !== undefined && values.pak !== undefined)) {
    throw new SideloadError("USAGE", "proxies takes no arguments, and --kind or --pak (not both)", {
      hint: "e.g. mp-sideload proxies --ops https://ops.example.com --pak my-adapter.pak",
    });
  }
  const url = opsUrlOf(values, terminal.env);
  if (url === undefined) {
    throw new SideloadError("USAGE", "proxies: missing --ops URL", {
      hint: "e.g. mp-sideload proxies --ops https://ops.example.com (or set MP_SIDELOAD_OPS_URL)",
    });
  }
  // The pak first: a bad pak is refused before any login.
  const kinds =
    values.pak === undefined ? (values.kind ?? []) : (await readPak(values.pak)).adapters.map((a) => a.kind);
  const debug = values.debug ? (m: string) => terminal.err(`debug: ${m}\n`) : undefined;
  const connection = await opsConnectionFrom(url, values, terminal, debug);
  const view = await readOpsView(connection, kinds);
  const wanted = values["collector-group"] ?? [];
  const groups = findCollectorGroups(view.groups, wanted);
  const described = describeOpsView(
    wanted.length === 0
      ? view
      : {
          ...view,
          collectors: view.collectors.filter((c) => groups.some((g) => g.memberIds.includes(c.id))),
        },
  );
  if (values["write-inventory"] !== undefined) {
    await writeInventory(values["write-inventory"], described.collectors, url);
    terminal.err(
      `wrote ${described.collectors.filter((c) => c.cloudProxy && c.host !== null).length} cloud proxies to ${printable(values["write-inventory"])}\n`,
    );
  }
  terminal.out(
    values.json
      ? `${JSON.stringify({ command: "proxies", ops: url, kinds, ...described }, null, 2)}\n`
      : renderProxiesHuman(described.collectors, kinds),
  );
  return { kind: "listed" };
}

/** The table: one collector a line, its instances below it. */
export function renderProxiesHuman(collectors: OpsCollectorRow[], kinds: string[]): string {
  const rows = collectors.map((c) => [
    printable(c.name),
    printable(c.host ?? "-"),
    c.type ?? (c.cloudProxy ? "(remote)" : "(local)"),
    c.state ?? "-",
    c.groups.map(printable).join(",") || "-",
    c.cloudProxy ? String(c.instances.length) : "not a cloud proxy",
  ]);
  const head = [
    "NAME",
    "HOST",
    "TYPE",
    "STATE",
    "GROUPS",
    kinds.length > 0 ? "INSTANCES" : "INSTANCES (no --kind)",
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const out = [line(head)];
  collectors.forEach((c, i) => {
    out.push(line(rows[i] ?? []));
    for (const inst of c.instances) {
      out.push(
        `    ${printable(inst.kind)} instance ${printable(inst.name)}${inst.via === "group" ? " (via its group)" : ""}`,
      );
    }
  });
  return `${out.join("\n")}\n`;
}

/** The cloud proxies as mp-sideload's native inventory (refuses to replace a file). */
async function writeInventory(file: string, collectors: OpsCollectorRow[], url: string): Promise<void> {
  const proxies = collectors
    .filter((c) => c.cloudProxy && c.host !== null)
    .map((c) => ({ name: c.name, host: c.host, ...(c.groups.length > 0 ? { groups: c.groups } : {}) }));
  const text = `# Cloud proxies of VCF Operations ${url}, written by mp-sideload proxies --write-inventory.\n# Collector groups are the groups (for --limit).\n${stringify({ proxies })}`;
  try {
    await writeFile(file, text, { flag: "wx", mode: 0o644 });
  } catch (error) {
    throw new SideloadError(
      "FILE_UNREADABLE",
      `--write-inventory ${printable(file)}: ${describeFsError(error)}`,
      {
        hint: "give a new file name: an existing file is never replaced",
      },
    );
  }
}
