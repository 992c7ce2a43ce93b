/**
 * `install PAK… --ops URL`: the `pull` pipeline onto the proxies VCF Operations names, then, only
 * when every collector group involved holds every image, the pak uploaded, installed and polled
 * through CaSA, its adapter kinds confirmed, and its adapters' containers checked when instances
 * exist. One question in a terminal, before anything is changed; the whole plan with --dry-run.
 */
import { basename } from "node:path";
import { SideloadError, printable, quote } from "../../errors.js";
import { checkWritableOutput } from "../../files.js";
import {
  checkInstallAccess,
  runInstall,
  type InstallEvent,
  type InstallJob,
  type InstallResult,
} from "../../install/run-install.js";
import { checkRunning, noInstanceNote } from "../../install/running.js";
import { parseOpsUrl } from "../../ops/suite-api.js";
import { planOutline, planSideload } from "../../plan/plan.js";
import { resolveInputs, type ResolvedInputs } from "../../resolve/resolve-inputs.js";
import type { SideloadJob } from "../../sideload/types.js";
import { runDefaults, type SideloadInputs } from "../../resolve/inputs.js";
import { checkIdentityFiles } from "../../ssh/connect.js";
import { intOption, parseCommandArgs } from "../args.js";
import type { RelayRun } from "../../relay/relay-run.js";
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
import { writeOutputs } from "../render/outputs.js";
import type { CommandContext, CommandResult } from "../results.js";
import type { Terminal } from "../terminal.js";
import { sshAuthPlanOf, sshConnectSetup } from "../targets.js";
import {
  commandGate,
  commandRelay,
  dryRunRelay,
  meetFront,
  relayArgv,
  markingChanges,
  outputOf,
  sideloadInputsOf,
  sideloadOptions,
  stderrBoard,
  type SideloadContext,
  type SideloadFront,
  type SideloadOutput,
} from "./sideload-command.js";

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

const defaultInstallTimeoutSeconds = runDefaults.installTimeoutSeconds;

const help = `Usage: mp-sideload install <pak>... --ops URL [--collector-group NAME | --ops-all] [options]

Pull each adapter image onto the cloud proxies VCF Operations names (as pull --ops does), and only
when every collector group involved holds every image, upload each pak to VCF Operations through
CaSA, install it and wait for its end; then confirm its adapter kinds, and check its adapters'
containers on the proxies when instances exist (as verify --running does).

Targets, credentials and run options: those of mp-sideload pull (see pull --help); --ops is needed.
  --relay [auto]              as pull --relay: the images through each proxy's SSH connection
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

/** `install` from its argv: the flags read once into typed inputs, then `install`. */
export async function run({ argv, terminal, state }: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parseCommandArgs("install", relayArgv(argv), installOptions);
  if (values.help) {
    terminal.out(help);
    return { kind: "shown" };
  }
  const debug = values.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const inputs = await installInputsOf(values, positionals, terminal, debug);
  return install(inputs, outputOf(values), { terminal, state, credentials: values });
}

/** The argv of `install` as typed inputs: pull's, and the install's own. */
export async function installInputsOf(
  values: InstallValues,
  paks: string[],
  terminal: Terminal,
  onDebug?: (message: string) => void,
): Promise<SideloadInputs> {
  const seconds = intOption(
    "install-timeout",
    values["install-timeout"],
    defaultInstallTimeoutSeconds,
    10,
    86_400,
  );
  return {
    ...(await sideloadInputsOf("pull", values, paks, terminal, onDebug)),
    install: { force: values.force ?? false, timeoutMs: seconds * 1000 },
  };
}

/** The answers of an `install` run, as its flags give them. */
export type InstallValues = ReturnType<typeof parseCommandArgs<typeof installOptions>>["values"];

/**
 * `install` from typed inputs, for the flags and the wizard's "install now?" alike: resolve them,
 * then the dry run's whole plan, or the account checked, the front, the sideloads, the install.
 */
export async function install(
  inputs: SideloadInputs,
  output: SideloadOutput,
  context: SideloadContext,
): Promise<CommandResult> {
  const { terminal } = context;
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
  const how = inputs.install ?? { force: false, timeoutMs: defaultInstallTimeoutSeconds * 1000 };
  if (output.junit !== undefined) await checkWritableOutput(output.junit, "--junit");
  if (output.report !== undefined) await checkWritableOutput(output.report, "--report");
  const debug = output.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const warn = (message: string) => terminal.err(`mp-sideload: warning: ${message}\n`);
  const resolved = await resolveInputs(inputs, terminal.env, debug, warn);
  const installContext: InstallContext = {
    ops: parseOpsUrl(ops.connection.url).host,
    force: how.force,
    timeoutMs: how.timeoutMs,
  };
  const job: SideloadJob = {
    mode: "pull",
    images: resolved.images,
    retries: inputs.retries,
    timeoutMs: inputs.timeoutMs,
    stallTimeoutMs: inputs.stallTimeoutMs,
    registryCa: resolved.registryCa,
  };
  if (output.dryRun) {
    if (inputs.relay !== undefined) job.relay = dryRunRelay(inputs.relay, resolved.images);
    return dryRun(inputs, resolved, job, installContext, output.json, terminal);
  }
  // Before any proxy is touched: an account CaSA refuses would leave images and no install.
  await checkInstallAccess(ops.connection);
  const installJob: InstallJob = {
    paks: resolved.paks,
    connection: ops.connection,
    force: how.force,
    timeoutMs: how.timeoutMs,
    signal: terminal.signal,
  };
  return installResolved(
    { inputs, output, resolved, job, install: installJob, context: installContext },
    context,
  );
}

async function dryRun(
  inputs: SideloadInputs,
  resolved: ResolvedInputs,
  job: SideloadJob,
  context: InstallContext,
  json: boolean,
  terminal: Terminal,
): Promise<CommandResult> {
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
  return { kind: "shown" };
}

interface InstallRun {
  inputs: SideloadInputs;
  output: SideloadOutput;
  resolved: ResolvedInputs;
  job: SideloadJob;
  install: InstallJob;
  context: InstallContext;
}

/**
 * The registries' gate (pull's), the front, the sideloads and the install on the live board, the
 * running check, the report. The run state is marked once a credential goes out and before the
 * upload: from then on an error that ends the run exits 1, not 2.
 */
async function installResolved(r: InstallRun, context: SideloadContext): Promise<CommandResult> {
  const { inputs, output, resolved } = r;
  const { terminal, state } = context;
  const front = context.front ?? installFront;
  const ask = terminal.interactive ? (await import("../prompts.js")).prompts : undefined;
  let board = ask && !output.json && !output.debug ? new LiveBoard(stderrBoard(terminal)) : undefined;
  const frontAround = front.around ?? (<T>(question: () => Promise<T>) => question());
  const around = <T>(question: () => Promise<T>) =>
    board?.paused(() => frontAround(question)) ?? frontAround(question);
  const debug = output.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const resolver = await credentialResolver(context.credentials, terminal, around);
  const gate = commandGate(inputs, resolved, resolver, terminal, {
    prompt: ask !== undefined,
    promptTries: front.promptTries,
    debug,
  }).start();
  const met = await meetFront(front, { inputs, output, resolved, job: r.job, gate, terminal }, ask);
  if ("kind" in met) return met;
  const { proxies, ran } = met;
  const ssh = await sshConnectSetup(inputs.ssh, inputs.targets.sshUser ?? "root", terminal, {
    askHostKeys: false,
    around,
  });
  const watching: Watching = {};
  let result: InstallResult;
  let relay: RelayRun | undefined;
  try {
    await checkIdentityFiles(proxies, ssh.connect.auth, ssh.run);
    relay = await commandRelay(inputs, resolved, gate, terminal);
    // `--relay` writes its hosts line on proxies that are never handed a credential.
    if (relay !== undefined) state.proxiesChanged = true;
    board?.start(proxies.length);
    const onEvent =
      board?.onEvent ?? createLiveRenderer(terminal, { debug: output.debug, json: output.json });
    const onInstall = (event: InstallEvent) => {
      // The upload changes VCF Operations: from then on an error cannot say "nothing changed".
      if (event.type === "install-uploading") state.proxiesChanged = true;
      board = installBoard(board, r, terminal, watching);
      if (event.type === "install-state") Object.assign(watching, { pak: event.pak, pakId: event.pakId });
      showInstallEvent(event, board, terminal);
    };
    const batch = { concurrency: inputs.concurrency, knownHosts: ssh.knownHosts, signal: terminal.signal };
    result = await runInstall(
      proxies,
      { ...r.job, registries: markingChanges(gate, state), relay },
      gate,
      { ...batch, onEvent, connect: ssh.connect },
      resolved.groups,
      { ...r.install, onEvent: onInstall },
    );
    board?.stop();
    await runningAfter(result, r, proxies, ssh);
  } catch (error) {
    if (terminal.signal.aborted && watching.pakId !== undefined) goesOn(watching, r.context, terminal);
    throw error;
  } finally {
    board?.stop();
    ssh.close();
    await relay?.close();
  }
  await report(result, r, terminal);
  return { kind: "installed", result, inputs: ran };
}

/** The pak being installed (for Ctrl-C's words), and whether the install's board is up. */
interface Watching {
  pak?: string;
  pakId?: string;
  installing?: boolean;
}

/** The board of the paks, in place of the sideloads' once the first install event comes. */
function installBoard(
  board: LiveBoard | undefined,
  r: InstallRun,
  terminal: Terminal,
  watching: Watching,
): LiveBoard | undefined {
  if (board === undefined || watching.installing) return board;
  watching.installing = true;
  board.stop();
  return new LiveBoard(stderrBoard(terminal)).start(r.install.paks.length);
}

/** After an install that completed: its adapters' containers, when instances exist yet. */
async function runningAfter(
  result: InstallResult,
  r: InstallRun,
  proxies: ResolvedInputs["proxies"],
  ssh: Awaited<ReturnType<typeof sshConnectSetup>>,
): Promise<void> {
  if (result.outcome !== "installed" || result.kinds === undefined) return;
  if (result.kinds.instances.length === 0) {
    r.context.runningNote = noInstanceNote;
    return;
  }
  r.context.running = await checkRunning(r.install.connection, r.resolved.images, proxies, {
    knownHosts: ssh.knownHosts,
    connect: ssh.connect,
    signal: r.install.signal,
    timeoutMs: r.inputs.timeoutMs,
  });
}

/** Ctrl-C during the install: it goes on in VCF Operations; say how to watch it. */
function goesOn(watching: Watching, context: InstallContext, terminal: Terminal): void {
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

/**
 * The command's front: host keys first, then one question naming the whole run: the sideloads and
 * the install (unless --yes).
 */
export const installFront: SideloadFront = {
  async beforeBatch({ inputs, output, resolved, ask, terminal }) {
    const { proxies, images, knownHostsFile } = resolved;
    await confirmHostKeys(proxies, knownHostsFile, ask, terminal);
    if (output.yes) return proxies;
    const what = images.length === 1 ? images[0]?.reference : `${images.length} images`;
    const paks = resolved.paks.map((p) => quote(basename(p.file))).join(", ");
    const count = `${proxies.length} prox${proxies.length === 1 ? "y" : "ies"}`;
    const force = inputs.install?.force ? " (--force: replacing an earlier upload and its content)" : "";
    const ops = inputs.targets.ops ? parseOpsUrl(inputs.targets.ops.connection.url).host : "";
    const go = await ask.confirmRun(
      `Pull ${what} onto ${count}, then, if every collector group holds it, install ${paks} into VCF Operations ${printable(ops)}${force}?`,
    );
    if (go) return proxies;
    terminal.err("nothing done\n");
    return "declined";
  },
};

/** The report on stdout and the files (render/outputs.ts), then the outcome on stderr. */
async function report(result: InstallResult, r: InstallRun, terminal: Terminal): Promise<void> {
  await writeOutputs(terminal, r.output, {
    json: renderInstallJson(result, r.context),
    human: renderInstallHuman(result, r.context),
    junit: () => renderInstallJunit(result),
  });
  if (terminal.signal.aborted) return;
  for (const line of outcomeLines(result, r.context)) terminal.err(line);
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
