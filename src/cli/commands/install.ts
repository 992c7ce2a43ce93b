/**
 * `install PAK… --ops URL`: the `pull` pipeline onto the proxies VCF Operations names, then, only
 * when every collector group involved holds every image, the pak uploaded, installed and polled
 * through CaSA, its adapter kinds confirmed, and its adapters' containers checked when instances
 * exist. One question in a terminal, before anything is changed; the whole plan with --dry-run.
 */
import { basename } from "node:path";
import { ExitStatus, SideloadError, printable, quote } from "../../errors.js";
import { checkWritableOutput, writeFileAtomic } from "../../files.js";
import {
  checkInstallAccess,
  runInstall,
  type InstallEvent,
  type InstallJob,
  type InstallResult,
} from "../../install/run-install.js";
import { checkRunning, noInstanceNote } from "../../install/running.js";
import { parseOpsUrl } from "../../ops/suite-api.js";
import { planOutline, planSideload } from "../../sideload/plan.js";
import { RegistryGate } from "../../sideload/registry-gate.js";
import { resolveInputs, type ResolvedInputs } from "../../sideload/resolve-inputs.js";
import type { SideloadJob } from "../../sideload/types.js";
import type { SideloadInputs } from "../../sideload/inputs.js";
import { rateLimitWaitMessage } from "../../registry/registry-client.js";
import { checkIdentityFiles } from "../../ssh/connect.js";
import { intOption, parseCommandArgs } from "../args.js";
import { credentialResolver } from "../credential-options.js";
import { confirmHostKeys } from "../host-keys.js";
import { createLiveRenderer, renderPlan, renderPlanJson } from "../render/batch.js";
import {
  renderInstallHuman,
  renderInstallJson,
  renderInstallJunit,
  renderInstallPlan,
  type InstallContext,
} from "../render/install.js";
import { LiveBoard } from "../render/live-board.js";
import type { prompts } from "../prompts.js";
import { interruptedStatus, type Terminal } from "../terminal.js";
import { sshAuthPlanOf, sshConnectSetup } from "../targets.js";
import { sideloadInputsOf, sideloadOptions, stderrBoard, type SideloadValues } from "./sideload-command.js";

const {
  prune: _prune,
  keep: _keep,
  "only-failed": _onlyFailed,
  running: _running,
  ...pullOptions
} = sideloadOptions;

export const installOptions = {
  ...pullOptions,
  force: { type: "boolean" },
  "install-timeout": { type: "string" },
} as const;

/** The default bound on the install's wait: 30 minutes. */
export const defaultInstallTimeoutSeconds = 1800;

const help = `Usage: mp-sideload install <pak>... --ops URL [--collector-group NAME | --ops-all] [options]

Pull each adapter image onto the cloud proxies VCF Operations names (as pull --ops does), and only
when every collector group involved holds every image, upload each pak to VCF Operations through
CaSA, install it and wait for its end; then confirm its adapter kinds, and check its adapters'
containers on the proxies when instances exist (as verify --running does).

Targets, credentials and run options: those of mp-sideload pull (see pull --help); --ops is needed.
Install:
  --force                     replace an earlier upload (pak_handling_advice=CLOBBER) and reinstall the
                              same version (force_content_update): for a developer's rebuild
  --install-timeout SECONDS   bound on the wait for a busy VCF Operations, the upload and the install
                              (default ${defaultInstallTimeoutSeconds})
  --yes, -y                   do not ask for confirmation
  --dry-run                   print the whole plan (sideloads, upload, install); change nothing
  --json                      one JSON document on stdout (the sideload rows, coverage, the install)
  --junit FILE                also write a JUnit XML report (a case per proxy and image, and per pak)
Credentials: the VCF Operations account must be an administrator (CaSA refuses others).
Exit status: 0 installed, 1 a proxy lacks an image (nothing uploaded) or the install failed,
2 usage or input error (nothing changed), 130/143/129 interrupted (the install goes on in VCF Operations).
`;

export async function run(argv: string[], terminal: Terminal): Promise<number> {
  const { values, positionals } = parseCommandArgs("install", argv, installOptions);
  if (values.help) {
    terminal.out(help);
    return ExitStatus.ok;
  }
  const force = values.force ?? false;
  const timeoutMs =
    intOption("install-timeout", values["install-timeout"], defaultInstallTimeoutSeconds, 10, 86_400) * 1000;
  const debug = values.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const pullValues = values as SideloadValues;
  const inputs = await sideloadInputsOf("pull", pullValues, positionals, terminal, debug);
  const ops = inputs.targets.ops;
  if (ops === undefined) {
    throw new SideloadError(
      "USAGE",
      "install: --ops URL is needed (the pak is installed into VCF Operations)",
      {
        hint: "e.g. mp-sideload install my-adapter.pak --ops https://ops.example.com",
      },
    );
  }
  if (values.junit !== undefined) await checkWritableOutput(values.junit, "--junit");
  if (values.report !== undefined) await checkWritableOutput(values.report, "--report");
  const warn = (message: string) => terminal.err(`mp-sideload: warning: ${message}\n`);
  const resolved = await resolveInputs(inputs, terminal.env, debug, warn);
  const context: InstallContext = { ops: parseOpsUrl(ops.connection.url).host, force, timeoutMs };
  const job: SideloadJob = {
    mode: "pull",
    images: resolved.images,
    retries: inputs.retries,
    timeoutMs: inputs.timeoutMs,
    stallTimeoutMs: inputs.stallTimeoutMs,
    registryCa: resolved.registryCa,
  };
  if (values["dry-run"]) return dryRun(inputs, resolved, job, context, values.json ?? false, terminal);
  // Before any proxy is touched: an account CaSA refuses would leave images and no install.
  await checkInstallAccess(ops.connection);
  const install: InstallJob = {
    paks: resolved.paks,
    connection: ops.connection,
    force,
    timeoutMs,
    signal: terminal.signal,
  };
  const run = { inputs, resolved, job, install, context, values: pullValues };
  return installCommand(run, terminal);
}

async function dryRun(
  inputs: SideloadInputs,
  resolved: ResolvedInputs,
  job: SideloadJob,
  context: InstallContext,
  json: boolean,
  terminal: Terminal,
): Promise<number> {
  const plan = planSideload(
    resolved.proxies,
    job,
    resolved.knownHostsFile,
    await sshAuthPlanOf(inputs.ssh, terminal),
  );
  const outline = planOutline(job, resolved.knownHostsFile);
  const references = resolved.images.map((i) => i.reference);
  const kinds = [...new Set(resolved.images.map((i) => i.kind))];
  if (json) {
    const doc = JSON.parse(renderPlanJson("pull", references, plan, outline)) as Record<string, unknown>;
    const paks = resolved.paks.map((p) => ({ file: p.file, name: p.name, version: p.version }));
    const install = {
      ops: context.ops,
      paks,
      pakHandlingAdvice: context.force ? "CLOBBER" : "STANDARD",
      forceContentUpdate: context.force,
      timeoutMs: context.timeoutMs,
      kinds,
    };
    terminal.out(`${JSON.stringify({ ...doc, command: "install", install }, null, 2)}\n`);
  } else {
    const heading = "dry run: install would do this, and nothing has been done:";
    terminal.out(renderPlan("pull", plan, { outline, references, heading }));
    terminal.out(renderInstallPlan(resolved.paks, context, kinds));
  }
  return ExitStatus.ok;
}

interface InstallRun {
  inputs: SideloadInputs;
  resolved: ResolvedInputs;
  job: SideloadJob;
  install: InstallJob;
  context: InstallContext;
  values: SideloadValues;
}

/** The confirmation, the sideloads and the install, the report; returns the exit status. */
async function installCommand(r: InstallRun, terminal: Terminal): Promise<number> {
  const { inputs, resolved, values } = r;
  const json = values.json ?? false;
  const ask = terminal.interactive ? (await import("../prompts.js")).prompts : undefined;
  let board = ask && !json && !values.debug ? new LiveBoard(stderrBoard(terminal)) : undefined;
  const around = <T>(question: () => Promise<T>) => board?.paused(question) ?? question();
  const gate = registryGate(inputs, resolved, terminal, {
    resolver: await credentialResolver(values, terminal, around),
    prompt: ask !== undefined,
  }).start();
  if (ask && !(await confirm(r, ask, terminal))) return ExitStatus.ok;
  const ssh = await sshConnectSetup(inputs.ssh, inputs.targets.sshUser ?? "root", terminal, {
    askHostKeys: false,
    around,
  });
  const watching: { pak?: string; pakId?: string } = {};
  let result: InstallResult;
  try {
    await checkIdentityFiles(resolved.proxies, ssh.connect.auth, ssh.run);
    board?.start(resolved.proxies.length);
    const onEvent = board?.onEvent ?? createLiveRenderer(terminal, { debug: values.debug ?? false, json });
    let installing = false;
    const onInstall = (event: InstallEvent) => {
      // The sideloads' board is done once the first install event comes: a new one for the paks.
      if (board && !installing) {
        board.stop();
        board = new LiveBoard(stderrBoard(terminal)).start(r.install.paks.length);
      }
      installing = true;
      if (event.type === "install-state") Object.assign(watching, { pak: event.pak, pakId: event.pakId });
      showInstallEvent(event, board, terminal);
    };
    const batch = { concurrency: inputs.concurrency, knownHosts: ssh.knownHosts, signal: terminal.signal };
    result = await runInstall(
      resolved.proxies,
      { ...r.job, registries: gate },
      gate,
      { ...batch, onEvent, connect: ssh.connect },
      resolved.groups,
      { ...r.install, onEvent: onInstall },
    );
    if (result.outcome === "installed" && result.kinds !== undefined) {
      board?.stop();
      if (result.kinds.instances.length === 0) r.context.runningNote = noInstanceNote;
      else
        r.context.running = await checkRunning(r.install.connection, resolved.images, resolved.proxies, {
          knownHosts: ssh.knownHosts,
          connect: ssh.connect,
          signal: terminal.signal,
          timeoutMs: inputs.timeoutMs,
        });
    }
  } catch (error) {
    if (terminal.signal.aborted && watching.pakId !== undefined) goesOn(watching, r.context, terminal);
    throw error;
  } finally {
    board?.stop();
    ssh.close();
  }
  return report(result, r, terminal);
}

/** Ctrl-C during the install: it goes on in VCF Operations; say how to watch it. */
function goesOn(
  watching: { pak?: string; pakId?: string },
  context: InstallContext,
  terminal: Terminal,
): void {
  const id = printable(watching.pakId ?? "");
  terminal.err(
    `mp-sideload: the install of ${printable(basename(watching.pak ?? ""))} (pak id ${id}) goes on in VCF Operations ${printable(context.ops)}: ` +
      `watch it in its admin UI (Integrations > Repository), or with ` +
      `curl -u admin https://${printable(context.ops)}/casa/upgrade/cluster/pak/${id}/status\n`,
  );
}

function showInstallEvent(event: InstallEvent, board: LiveBoard | undefined, terminal: Terminal): void {
  const key = event.pak;
  const name = `install ${printable(basename(event.pak))}`;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const line =
    event.type === "install-busy"
      ? `waiting: VCF Operations is busy with ${printable(event.busyWith)}`
      : event.type === "install-uploading"
        ? "uploading"
        : event.type === "install-state"
          ? printable(event.state)
          : undefined;
  if (board !== undefined) {
    if (event.type === "install-finished") {
      const ok = event.install.outcome === "completed";
      board.finish(key, ok, `${name}  ${event.install.states.map(printable).join(" → ")}`);
    } else if (event.type === "install-uploading") board.begin(key, name, "uploading");
    else if (line !== undefined) board.activity(key, line);
    return;
  }
  // Without the board (a pipeline, --json): a line per change on stderr; an install can take long.
  if (line !== undefined && "elapsedMs" in event) terminal.err(`${name}: ${line} (${s(event.elapsedMs)})\n`);
}

/** Host keys first, then one question naming the whole run: the sideloads and the install. */
async function confirm(r: InstallRun, ask: typeof prompts, terminal: Terminal): Promise<boolean> {
  const { proxies, images, knownHostsFile } = r.resolved;
  await confirmHostKeys(proxies, knownHostsFile, ask, terminal);
  if (r.values.yes) return true;
  const what = images.length === 1 ? images[0]?.reference : `${images.length} images`;
  const paks = r.install.paks.map((p) => quote(basename(p.file))).join(", ");
  const count = `${proxies.length} prox${proxies.length === 1 ? "y" : "ies"}`;
  const force = r.install.force ? " (--force: replacing an earlier upload and its content)" : "";
  const go = await ask.confirmRun(
    `Pull ${what} onto ${count}, then, if every collector group holds it, install ${paks} into VCF Operations ${printable(r.context.ops)}${force}?`,
  );
  if (!go) terminal.err("nothing done\n");
  return go;
}

/** The registry gate of the sideloads, as `pull` builds it. */
function registryGate(
  inputs: SideloadInputs,
  resolved: ResolvedInputs,
  terminal: Terminal,
  options: { resolver: Awaited<ReturnType<typeof credentialResolver>>; prompt: boolean },
): RegistryGate {
  return new RegistryGate(resolved.images, {
    resolver: options.resolver,
    ca: resolved.registryCa,
    env: terminal.env,
    signal: terminal.signal,
    skipCheck: !inputs.registryCheck,
    prompt: options.prompt,
    warn: (message) => terminal.err(`mp-sideload: warning: ${message}\n`),
    rateLimits: {
      retries: inputs.retries,
      waitBudgetMs: inputs.timeoutMs,
      onWait: (wait) => terminal.err(`mp-sideload: ${rateLimitWaitMessage(wait)}\n`),
    },
  });
}

/** The report on stdout, the files, the errors on stderr; the exit status. */
async function report(result: InstallResult, r: InstallRun, terminal: Terminal): Promise<number> {
  const json = r.values.json ?? false;
  const context = r.context;
  const document = renderInstallJson(result, context);
  terminal.out(json ? document : renderInstallHuman(result, context));
  if (r.values.report !== undefined)
    await writeFileAtomic(r.values.report, document, { mode: 0o644, what: "--report" });
  if (r.values.junit !== undefined)
    await writeFileAtomic(r.values.junit, renderInstallJunit(result), { mode: 0o644, what: "--junit" });
  const interrupted = interruptedStatus(terminal.signal);
  if (interrupted !== undefined) return interrupted;
  for (const line of outcomeLines(result, context)) terminal.err(line);
  return result.outcome === "installed" ? ExitStatus.ok : ExitStatus.proxyFailed;
}

function outcomeLines(result: InstallResult, context: InstallContext): string[] {
  if (result.outcome === "not-ready") {
    const groups = result.gate.notReady.map(
      (g) => `${printable(g.group)} (${[...g.lacking, ...g.unchecked].map(printable).join(", ")})`,
    );
    const what =
      groups.length > 0
        ? `collector group ${groups.join(", ")} lacks the image`
        : `${result.gate.failed.map(printable).join(", ")} failed`;
    return [
      `mp-sideload: INSTALL_NOT_READY: nothing uploaded to VCF Operations ${printable(context.ops)}: ${what}\n`,
      "  hint: fix the proxies named (see their rows above), run again: the install starts once every member holds every image\n",
    ];
  }
  const failed = result.installs.find((i) => i.outcome === "failed");
  if (failed?.error) {
    const hint = failed.error.hint ? `  hint: ${failed.error.hint}\n` : "";
    return [`mp-sideload: ${failed.error.code}: ${failed.error.message}\n`, hint];
  }
  if (result.kinds && result.kinds.missing.length > 0)
    return [
      `mp-sideload: INSTALL_KIND_UNKNOWN: the install COMPLETED, but VCF Operations does not know ${result.kinds.missing.map(printable).join(", ")}\n`,
      "  hint: check the pack in VCF Operations (Integrations > Repository); its describe.xml may name another adapter kind\n",
    ];
  return [];
}
