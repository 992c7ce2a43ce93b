/**
 * `prune <pak>… (targets) [--keep N] [--dry-run] [--yes]`: the old images of the paks'
 * repositories removed from each proxy. In a terminal it lists first and asks "go?"; with no
 * terminal it needs --yes (or --dry-run), like apt.
 */
import { SideloadError } from "../../errors.js";
import { checkWritableOutput } from "../../files.js";
import { writeOutputs } from "../render/outputs.js";
import { readPaks } from "../../pak/read-paks.js";
import { knownHostsFileOf } from "../../resolve/resolve-inputs.js";
import { runPrune, type PruneJob, type PruneReport } from "../../prune/prune.js";
import { checkIdentityFiles } from "../../ssh/connect.js";
import type { Proxy } from "../../inventory/proxy.js";
import { runDefaults } from "../../resolve/inputs.js";
import { intOption, parseCommandArgs, requirePaks } from "../args.js";
import { confirmHostKeys } from "../host-keys.js";
import { debugLine } from "../render/batch.js";
import {
  formatBytes,
  renderPruneHuman,
  renderPruneJson,
  renderPruneJunit,
  renderPruneRow,
} from "../render/prune.js";
import type { CommandContext, CommandResult } from "../results.js";
import { interruptedStatus, type Terminal } from "../terminal.js";
import {
  commandProxies,
  proxyCommandOptionSpecs,
  sshConnectSetup,
  sshInputsOf,
  targetOptionsHelp,
} from "../targets.js";

const options = {
  ...proxyCommandOptionSpecs,
  keep: { type: "string" },
  yes: { type: "boolean", short: "y" },
  "dry-run": { type: "boolean" },
} as const;

const help = `Usage: mp-sideload prune <pak>... (--proxy [user@]host[:port] ... | --inventory FILE) [--keep N] [--dry-run] [--yes] [options]

Remove old images of the paks' repositories from cloud proxies: every image of the same
REGISTRY/REPOSITORY whose digest is none of the paks', except the --keep N most recent. Never
an image a container uses (running or stopped), never another repository's image or name.

${targetOptionsHelp}  --default-registry HOST     the proxies' default registry, for a pak that names none
Prune:
  --keep N                    old images kept per repository besides the current ones (default ${runDefaults.keep})
  --dry-run                   connect and list what would go; remove nothing
  --yes, -y                   remove without asking (needed without a terminal)
Run:
  --concurrency N             proxies at once (default ${runDefaults.concurrency})
  --timeout SECONDS           per proxy (default ${runDefaults.timeoutSeconds})
  --json                      one JSON document on stdout
  --report FILE               also write the JSON document to FILE
  --junit FILE                also write a JUnit XML report to FILE (a test case per proxy)
  --debug                     stack traces on stderr
Exit status: 0 every proxy ok, 1 a proxy failed, 2 usage or input error (or no terminal and no --yes),
130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the report is still written).
`;

type Values = ReturnType<typeof parseCommandArgs<typeof options>>["values"];

export async function run({ argv, terminal, state }: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parseCommandArgs("prune", argv, options);
  if (values.help) {
    terminal.out(help);
    return { kind: "shown" };
  }
  requirePaks("prune", positionals, "mp-sideload prune my-adapter.pak --inventory proxies.yaml --dry-run");
  const d = runDefaults;
  const keep = intOption("keep", values.keep, d.keep, 0, 1000);
  const concurrency = intOption("concurrency", values.concurrency, d.concurrency, 1, 256);
  const timeoutMs = intOption("timeout", values.timeout, d.timeoutSeconds, 1, 86_400) * 1000;
  const dryRun = values["dry-run"] ?? false;
  const ask = terminal.interactive ? (await import("../prompts.js")).prompts : undefined;
  if (!dryRun && !values.yes && ask === undefined) {
    throw new SideloadError(
      "CONFIRMATION_REQUIRED",
      "prune removes images and there is no terminal to ask in",
      {
        hint: "add --yes to remove without asking (in a pipeline), or --dry-run to only list what would go",
      },
    );
  }
  if (values.report !== undefined) await checkWritableOutput(values.report, "--report");
  if (values.junit !== undefined) await checkWritableOutput(values.junit, "--junit");
  const debug = values.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const { images } = await readPaks(positionals, values["default-registry"]);
  const { proxies, ssh } = await commandProxies(values, images, terminal, debug);
  if (ask) await confirmHostKeys(proxies, knownHostsFileOf(ssh.knownHostsFile, terminal.env), ask, terminal);

  const job: PruneJob = { images, keep, dryRun, timeoutMs };
  const runOn = (j: PruneJob, live: boolean) => prune(proxies, j, values, terminal, { concurrency, live });
  let report: PruneReport;
  if (ask && !dryRun && !values.yes) {
    // List first, ask, then remove only what was listed (and still qualifies).
    const listing = await runOn({ ...job, dryRun: true }, false);
    const confirmed = confirmedOf(listing);
    const count = [...confirmed.values()].reduce((n, s) => n + s.size, 0);
    if (count === 0 || interruptedStatus(terminal.signal) !== undefined) {
      report = listing;
    } else {
      terminal.err(listing.proxies.map((row) => renderPruneRow(row, true)).join(""));
      const bytes = listing.proxies.flatMap((p) => p.removed).reduce((n, i) => n + i.size, 0);
      const question = `Remove ${count} image${count === 1 ? "" : "s"} (${formatBytes(bytes)}) from ${confirmed.size} prox${confirmed.size === 1 ? "y" : "ies"}?`;
      if (!(await ask.confirmRun(question))) {
        terminal.err("nothing done\n");
        return { kind: "declined" };
      }
      state.proxiesChanged = true;
      report = await runOn({ ...job, confirmed }, false);
    }
  } else {
    // Images may go from here on: an error that ends the run then cannot exit 2.
    if (!dryRun) state.proxiesChanged = true;
    report = await runOn(job, values.debug ?? false);
  }
  await writeOutputs(terminal, values, {
    json: renderPruneJson(report),
    human: renderPruneHuman(report),
    junit: () => renderPruneJunit(report),
  });
  return { kind: "pruned", report };
}

/** One batch over the proxies: SSH set up for it and closed after it. */
async function prune(
  proxies: Proxy[],
  job: PruneJob,
  values: Values,
  terminal: Terminal,
  options: { concurrency: number; live: boolean },
): Promise<PruneReport> {
  const ssh = await sshConnectSetup(sshInputsOf(values), values["ssh-user"] ?? "root", terminal, {
    askHostKeys: false,
  });
  try {
    await checkIdentityFiles(proxies, ssh.connect.auth, ssh.run);
    return await runPrune(proxies, job, {
      concurrency: options.concurrency,
      knownHosts: ssh.knownHosts,
      connect: ssh.connect,
      signal: terminal.signal,
      // --debug: every event, and each proxy's lines as it finishes.
      ...(options.live
        ? {
            onEvent: (event) => {
              terminal.err(debugLine(event));
              if (event.type === "proxy-finished") terminal.err(renderPruneRow(event.results, job.dryRun));
            },
          }
        : {}),
    });
  } finally {
    ssh.close();
  }
}

/** Per proxy, the image IDs a listing run would remove. */
function confirmedOf(listing: PruneReport): Map<string, Set<string>> {
  const confirmed = new Map<string, Set<string>>();
  for (const row of listing.proxies) {
    if (row.removed.length > 0) confirmed.set(row.name, new Set(row.removed.map((i) => i.id)));
  }
  return confirmed;
}
