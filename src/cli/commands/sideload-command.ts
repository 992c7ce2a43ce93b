/**
 * `pull` and `verify`: the same options, the same pipeline; verify stops after "present?".
 */
import { SideloadError, printable, type RunState } from "../../errors.js";
import type { Proxy } from "../../inventory/proxy.js";
import type { RegistryPreflight } from "../../registry/preflight.js";
import { checkWritableOutput } from "../../files.js";
import { writeOutputs } from "../render/outputs.js";
import { rateLimitWaitMessage } from "../../registry/registry-client.js";
import { checkIdentityFiles } from "../../ssh/connect.js";
import { checkRelayable, startRelayRun, type RelayRun } from "../../relay/relay-run.js";
import { runDefaults, type ProxyQuery, type SideloadInputs } from "../../resolve/inputs.js";
import { planOutline, planSideload } from "../../plan/plan.js";
import { RegistryGate } from "../../gate/registry-gate.js";
import { resolveInputs, type ResolvedInputs } from "../../resolve/resolve-inputs.js";
import { buildReport } from "../../sideload/run-batch.js";
import { runSideload } from "../../sideload/run-sideload.js";
import type { BatchReport, RegistryCredentials, SideloadJob } from "../../sideload/types.js";
import type { CredentialResolver } from "../../credentials/resolve.js";
import type { prompts } from "../prompts.js";
import { intOption, parseCommandArgs, requirePaks } from "../args.js";
import {
  credentialOptionSpecs,
  credentialOptionsHelp,
  credentialResolver,
  type CredentialValues,
} from "../credential-options.js";
import { confirmHostKeys } from "../host-keys.js";
import {
  createLiveRenderer,
  renderPlan,
  renderPlanJson,
  renderReportHuman,
  renderReportJson,
  reportDocument,
} from "../render/batch.js";
import { renderRunningLines } from "../render/install.js";
import { checkRunning, type RunningReport } from "../../install/running.js";
import { renderJunit } from "../render/junit.js";
import { LiveBoard } from "../render/live-board.js";
import type { CommandContext, CommandResult } from "../results.js";
import type { Terminal } from "../terminal.js";
import {
  proxyQueryOf,
  sshAuthPlanOf,
  sshConnectSetup,
  sshInputsOf,
  proxyCommandOptionSpecs,
  targetOptionsHelp,
} from "../targets.js";

export const sideloadOptions = {
  ...proxyCommandOptionSpecs,
  ...credentialOptionSpecs,
  "registry-ca": { type: "string" },
  "no-registry-check": { type: "boolean" },
  prune: { type: "boolean" },
  keep: { type: "string" },
  relay: { type: "string" },
  running: { type: "boolean" },
  retries: { type: "string" },
  "stall-timeout": { type: "string" },
  "only-failed": { type: "string" },
  yes: { type: "boolean", short: "y" },
  "dry-run": { type: "boolean" },
  verbose: { type: "boolean" },
} as const;

function help(mode: "pull" | "verify"): string {
  const what =
    mode === "pull"
      ? "Pull each adapter image of a pak onto cloud proxies, by its exact digest, over SSH."
      : "Check that every cloud proxy holds each adapter image of a pak, by its exact digest. Changes nothing.";
  return `Usage: mp-sideload ${mode} <pak> (--proxy [user@]host[:port] ... | --inventory FILE) [options]

${what}

${targetOptionsHelp}  --default-registry HOST     the proxies' default registry, for a pak that names none
${
  mode === "pull"
    ? `${credentialOptionsHelp}  --registry-ca FILE          install this CA on each proxy as /etc/docker/certs.d/<REGISTRY>/ca.crt
  --no-registry-check         do not check the registry from this machine before the proxies
  --prune                     once a proxy's images are verified, remove old images of their
                              repositories there, as mp-sideload prune does (--keep N, default ${runDefaults.keep})
  --keep N                    with --prune: old images kept per repository besides the current ones
  --relay [auto]              carry the images through each proxy's SSH connection from this
                              machine (for proxies that cannot reach the registry); auto: only
                              for the proxies whose engine cannot reach it
`
    : ""
}Run:
  --concurrency N             proxies at once (default ${runDefaults.concurrency})
  --timeout SECONDS           per proxy (default ${runDefaults.timeoutSeconds})
  --retries N                 re-issues of a pull whose connection dropped, whose engine restarted
                              or that stalled; also waits on a registry's rate limit (default ${runDefaults.retries})
  --stall-timeout SECONDS     a pull with no progress for this long is stalled and re-issued (default ${runDefaults.stallTimeoutSeconds})
  --json                      one JSON document on stdout
  --report FILE               also write the JSON document to FILE
  --junit FILE                also write a JUnit XML report to FILE (a test case per proxy and image)
  --only-failed REPORT        only the proxies that failed in an earlier --report${
    mode === "verify"
      ? `
  --running                   with --ops: per adapter instance of the pak's kinds, the containers of its
                              image on its collector's proxy (an exited one's exit code and last log lines)`
      : ""
  }
  --yes, -y                   do not ask for confirmation
  --dry-run                   print the plan; connect to nothing
  --verbose                   with --dry-run: every step of every proxy, references spelt out
  --debug                     every event and stack traces on stderr
SSH password: MP_SIDELOAD_SSH_PASSWORD, or asked in a terminal.
Exit status: 0 every proxy ok, 1 a proxy failed${mode === "verify" ? " or lacks an image" : ""}, 2 usage or input error,
130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the report is still written).
`;
}

/** `pull` or `verify` from its argv: the flags read once into typed inputs, then `sideload`. */
export async function runSideloadCommand(
  mode: "pull" | "verify",
  { argv, terminal, state }: CommandContext,
): Promise<CommandResult> {
  const { values, positionals } = parseCommandArgs(mode, relayArgv(argv), sideloadOptions);
  if (values.help) {
    terminal.out(help(mode));
    return { kind: "shown" };
  }
  const output = outputOf(values);
  const debug = output.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const inputs = await sideloadInputsOf(mode, values, positionals, terminal, debug);
  return sideload(inputs, output, { terminal, state, credentials: values });
}

/** `--relay` takes an optional word: `--relay auto` and `--relay=auto`, else `--relay` alone is all. */
export function relayArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") return [...out, ...argv.slice(i)];
    if (arg !== "--relay") out.push(arg);
    else if (argv[i + 1] === "auto") {
      out.push("--relay=auto");
      i++;
    } else out.push("--relay=all");
  }
  return out;
}

/** `--relay` (pull only): `all` or `auto`. */
function relayOf(mode: "pull" | "verify", value: string | undefined): "all" | "auto" | undefined {
  if (value === undefined) return undefined;
  if (mode !== "pull")
    throw new SideloadError("USAGE", "verify needs no relay: --relay is an option of pull", {
      hint: "run verify without --relay: it only asks each proxy's engine",
    });
  if (value !== "all" && value !== "auto")
    throw new SideloadError("USAGE", `--relay takes no value but auto, not ${printable(value)}`, {
      hint: "--relay for every proxy, --relay auto for the proxies whose engine cannot reach the registry",
    });
  return value;
}

/** How a run reports: the flags that decide output, confirmation and the dry run. */
export interface SideloadOutput {
  json: boolean;
  report?: string | undefined;
  junit?: string | undefined;
  dryRun: boolean;
  /** The plan's long form: every step of every proxy. */
  verbose: boolean;
  yes: boolean;
  debug: boolean;
}

/** The argv of `pull` or `verify` as typed inputs: the one place they are read. */
export async function sideloadInputsOf(
  mode: "pull" | "verify",
  values: SideloadValues,
  paks: string[],
  terminal: Terminal,
  onDebug?: (message: string) => void,
): Promise<SideloadInputs> {
  requirePaks(mode, paks, `mp-sideload ${mode} my-adapter.pak (several paks, or a folder of them, are fine)`);
  if (values["ops-password-stdin"] && values["registry-password-stdin"]) {
    throw new SideloadError("USAGE", "--ops-password-stdin and --registry-password-stdin both want stdin", {
      hint: "give one of the passwords through its environment variable (MP_SIDELOAD_OPS_PASSWORD, MP_SIDELOAD_REGISTRY_PASSWORD)",
    });
  }
  // The numbers first: a typo there is found before any question is asked.
  const d = runDefaults;
  const concurrency = intOption("concurrency", values.concurrency, d.concurrency, 1, 256);
  const timeoutMs = intOption("timeout", values.timeout, d.timeoutSeconds, 1, 86_400) * 1000;
  const retries = intOption("retries", values.retries, d.retries, 0, 20);
  const stall = intOption("stall-timeout", values["stall-timeout"], d.stallTimeoutSeconds, 1, 86_400);
  const stallTimeoutMs = stall * 1000;
  const prune = pruneOf(mode, values);
  const relay = relayOf(mode, values.relay);
  const targets = await proxyQueryOf(values, terminal, onDebug);
  const running = runningOf(mode, values, targets);
  return {
    ...(relay === undefined ? {} : { relay }),
    mode,
    paks,
    defaultRegistry: values["default-registry"],
    targets,
    ssh: sshInputsOf(values),
    registryCaFile: values["registry-ca"],
    registryCheck: !(values["no-registry-check"] ?? false),
    concurrency,
    timeoutMs,
    retries,
    stallTimeoutMs,
    ...(prune === undefined ? {} : { prune }),
    ...(running ? { running } : {}),
  };
}

/** `--prune [--keep N]` (pull only): read here, so that a typo stops the run before anything. */
function pruneOf(mode: "pull" | "verify", values: SideloadValues): { keep: number } | undefined {
  if (values.prune && mode !== "pull") {
    throw new SideloadError("USAGE", "verify changes nothing: --prune is an option of pull", {
      hint: "run mp-sideload prune <pak> with the same targets to remove old images",
    });
  }
  if (!values.prune && values.keep !== undefined) {
    throw new SideloadError("USAGE", "--keep goes with --prune", {
      hint: "add --prune, or run mp-sideload prune <pak> --keep N",
    });
  }
  return values.prune ? { keep: intOption("keep", values.keep, runDefaults.keep, 0, 1000) } : undefined;
}

/** How a run reports, from its flags (pull, verify, install). */
export function outputOf(values: SideloadValues): SideloadOutput {
  return {
    json: values.json ?? false,
    report: values.report,
    junit: values.junit,
    dryRun: values["dry-run"] ?? false,
    verbose: values.verbose ?? false,
    yes: values.yes ?? false,
    debug: values.debug ?? false,
  };
}

/** What `sideload` works with besides its inputs: the outside world, and how it asks. */
export interface SideloadContext {
  terminal: Terminal;
  state: RunState;
  /** The credential flags (`--registry-user`...); the wizard gives none. */
  credentials: CredentialValues;
  /** How a terminal run meets its user before the batch; default: the commands' (`commandFront`). */
  front?: SideloadFront;
}

/**
 * A terminal run's meeting with its user once the proxies are resolved and the registries'
 * checks started: the commands ask about unknown host keys, then "go?"; the wizard shows the
 * registries' verdicts and the plan first. Nothing is asked after it but passwords.
 */
export interface SideloadFront {
  /** Tries for a typed registry password the registry refuses (default 1). */
  promptTries?: number;
  /** Wraps every question of the run besides the board's own pause (the wizard's spinner). */
  around?: <T>(question: () => Promise<T>) => Promise<T>;
  /** The proxies to run on (the resolved ones, or fewer), or why nothing runs. */
  beforeBatch(meeting: FrontMeeting): Promise<Proxy[] | "declined" | { notNeeded: RegistryPreflight[] }>;
}

/**
 * In a terminal, the front's questions (host keys, "go?"): the proxies to run on and the inputs
 * that ran (narrowed when host keys were declined, so that the repeat names the same proxies), or
 * the result that ends the run here. With no terminal, every resolved proxy and the inputs as given.
 */
export async function meetFront(
  front: SideloadFront,
  meeting: Omit<FrontMeeting, "ask">,
  ask: typeof prompts | undefined,
): Promise<{ proxies: Proxy[]; ran: SideloadInputs } | CommandResult> {
  const { inputs, resolved } = meeting;
  if (ask === undefined) return { proxies: resolved.proxies, ran: inputs };
  const met = await front.beforeBatch({ ...meeting, ask });
  if (met === "declined") return { kind: "declined" };
  if (!Array.isArray(met)) return { kind: "not-needed", registries: met.notNeeded };
  if (met.length >= resolved.proxies.length) return { proxies: met, ran: inputs };
  const limit = met.map((p) => p.name);
  return { proxies: met, ran: { ...inputs, targets: { ...inputs.targets, limit } } };
}

/** What a front sees. */
export interface FrontMeeting {
  inputs: SideloadInputs;
  output: SideloadOutput;
  resolved: ResolvedInputs;
  job: SideloadJob;
  gate: RegistryGate | undefined;
  ask: typeof prompts;
  terminal: Terminal;
}

/**
 * `pull` or `verify` from typed inputs, for the flags and the wizard alike: resolve them, then
 * the dry run's plan, or the registry gate, the front (in a terminal), the batch, the report.
 */
export async function sideload(
  inputs: SideloadInputs,
  output: SideloadOutput,
  context: SideloadContext,
): Promise<CommandResult> {
  const { terminal } = context;
  const debug = output.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  // Before anything is contacted: an output that cannot be written would lose the results.
  if (output.report !== undefined) await checkWritableOutput(output.report, "--report");
  if (output.junit !== undefined) await checkWritableOutput(output.junit, "--junit");
  const warn = (message: string) => terminal.err(`mp-sideload: warning: ${message}\n`);
  const resolved = await resolveInputs(inputs, terminal.env, debug, warn);
  const { images, knownHostsFile, proxies } = resolved;
  const references = images.map((i) => i.reference);
  const job: SideloadJob = {
    mode: inputs.mode,
    images,
    retries: inputs.retries,
    timeoutMs: inputs.timeoutMs,
    stallTimeoutMs: inputs.stallTimeoutMs,
    registryCa: resolved.registryCa,
    prune: inputs.prune,
  };
  if (proxies.length === 0 && inputs.targets.onlyFailed !== undefined) {
    terminal.err(
      `nothing to retry: ${printable(inputs.targets.onlyFailed)} shows every proxy ok for these images\n`,
    );
    if (output.json) terminal.out(renderReportJson(buildReport(inputs.mode, references, [])));
    return { kind: "shown" };
  }
  if (output.dryRun) {
    if (inputs.relay !== undefined) job.relay = dryRunRelay(inputs.relay, images);
    const plan = planSideload(proxies, job, knownHostsFile, await sshAuthPlanOf(inputs.ssh, terminal));
    const outline = planOutline(job, knownHostsFile);
    terminal.out(
      output.json
        ? renderPlanJson(inputs.mode, references, plan, outline)
        : renderPlan(inputs.mode, plan, { outline, references, verbose: output.verbose }),
    );
    return { kind: "shown" };
  }
  return runResolved(inputs, output, resolved, job, context);
}

/** The registries' gate, the front, the batch on the live board, the report written. */
async function runResolved(
  inputs: SideloadInputs,
  output: SideloadOutput,
  resolved: ResolvedInputs,
  job: SideloadJob,
  context: SideloadContext,
): Promise<CommandResult> {
  const { terminal, state } = context;
  const front = context.front ?? commandFront;
  const debug = output.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const ask = terminal.interactive ? (await import("../prompts.js")).prompts : undefined;
  const board = ask && !output.json && !output.debug ? new LiveBoard(stderrBoard(terminal)) : undefined;
  const frontAround = front.around ?? (<T>(question: () => Promise<T>) => question());
  const around = <T>(question: () => Promise<T>) =>
    board?.paused(() => frontAround(question)) ?? frontAround(question);
  // The registries' checks start now and overlap everything below; a proxy that must pull waits
  // for its registry's verdict before any credential goes out.
  const resolver =
    inputs.mode === "pull" ? await credentialResolver(context.credentials, terminal, around) : undefined;
  const gate =
    resolver &&
    commandGate(inputs, resolved, resolver, terminal, {
      prompt: ask !== undefined,
      promptTries: front.promptTries,
      debug,
    }).start();
  const met = await meetFront(front, { inputs, output, resolved, job, gate, terminal }, ask);
  if ("kind" in met) return met;
  const { proxies, ran } = met;
  const ssh = await sshConnectSetup(inputs.ssh, inputs.targets.sshUser ?? "root", terminal, {
    askHostKeys: false,
    around,
  });
  let result;
  let relay: RelayRun | undefined;
  let running: RunningReport | undefined;
  try {
    await checkIdentityFiles(proxies, ssh.connect.auth, ssh.run);
    job.relay = relay = await commandRelay(inputs, resolved, gate, terminal);
    board?.start(proxies.length);
    const onEvent =
      board?.onEvent ?? createLiveRenderer(terminal, { debug: output.debug, json: output.json });
    const batch = { concurrency: inputs.concurrency, knownHosts: ssh.knownHosts, signal: terminal.signal };
    // `pull --prune` may remove images from a proxy that needed no credentials; `--relay` writes
    // its hosts line on proxies that are never handed one.
    if (inputs.prune || relay !== undefined) state.proxiesChanged = true;
    const registries = gate && markingChanges(gate, state);
    result = await runSideload(
      proxies,
      { ...job, registries },
      gate,
      { ...batch, onEvent, connect: ssh.connect },
      resolved.groups,
    );
    board?.stop();
    if (inputs.running) running = await checkRunningOf(inputs, resolved, ssh, terminal);
  } finally {
    board?.stop();
    ssh.close();
    await relay?.close();
  }
  await writeResults(result.report, output, terminal, running);
  return { kind: "sideloaded", result, inputs: ran, ...(running === undefined ? {} : { running }) };
}

/**
 * The gate as the proxies see it, telling `state` once it hands out credentials: from then on a
 * proxy may be changed (a login, a CA, a pull), so an error that ends the run cannot exit 2.
 */
export function markingChanges(gate: RegistryGate, state: RunState): RegistryCredentials {
  return {
    credentials: async (registry) => {
      const auth = await gate.credentials(registry);
      state.proxiesChanged = true;
      return auth;
    },
    refresh: (registry) => gate.refresh(registry),
    verified: (registry) => gate.verified(registry),
    reachedFromHere: (registry) => gate.reachedFromHere(registry),
  };
}

/** The relay as a dry run plans it: checked, never started. */
export function dryRunRelay(mode: "all" | "auto", images: ResolvedInputs["images"]): SideloadJob["relay"] {
  checkRelayable(images);
  const forProxy = () => {
    throw new Error("a dry run relays nothing");
  };
  return { mode, forProxy };
}

/** `pull --relay`: the run's relay, fetching with the gate's credentials and this machine's trust. */
export async function commandRelay(
  inputs: SideloadInputs,
  resolved: ResolvedInputs,
  gate: RegistryGate | undefined,
  terminal: Terminal,
): Promise<RelayRun | undefined> {
  if (inputs.relay === undefined || gate === undefined) return undefined;
  return startRelayRun({
    mode: inputs.relay,
    images: resolved.images,
    credentials: (registry) => gate.credentials(registry),
    client: { ca: resolved.registryCa, env: terminal.env, signal: terminal.signal, retries: inputs.retries },
    note: (message) => terminal.err(`mp-sideload: ${message}\n`),
  });
}

/** `--running` goes with `verify --ops` only: read before anything is contacted. */
function runningOf(mode: "pull" | "verify", values: SideloadValues, targets: ProxyQuery): boolean {
  const running = values.running ?? false;
  // --ops or MP_SIDELOAD_OPS_URL: VCF Operations names the adapter instances to look at.
  if (running && (mode !== "verify" || targets.ops === undefined))
    throw new SideloadError("USAGE", "--running is an option of verify --ops", {
      hint: "e.g. mp-sideload verify my-adapter.pak --ops https://ops.example.com --running",
    });
  return running;
}

/** `verify --running`: the adapter containers of each instance, on the run's connections' terms. */
async function checkRunningOf(
  inputs: SideloadInputs,
  resolved: ResolvedInputs,
  ssh: Awaited<ReturnType<typeof sshConnectSetup>>,
  terminal: Terminal,
): Promise<RunningReport | undefined> {
  const ops = inputs.targets.ops;
  if (ops === undefined) return undefined;
  return checkRunning(ops.connection, resolved.images, resolved.proxies, {
    knownHosts: ssh.knownHosts,
    connect: ssh.connect,
    signal: terminal.signal,
    timeoutMs: inputs.timeoutMs,
  });
}

/** The registry gate of a `pull` (and an install's): the workstation's checks, the credentials, the rate limits. */
export function commandGate(
  inputs: SideloadInputs,
  resolved: ResolvedInputs,
  resolver: CredentialResolver,
  terminal: Terminal,
  options: {
    prompt: boolean;
    promptTries?: number | undefined;
    debug: ((message: string) => void) | undefined;
  },
): RegistryGate {
  return new RegistryGate(resolved.images, {
    resolver,
    ca: resolved.registryCa,
    env: terminal.env,
    signal: terminal.signal,
    skipCheck: !inputs.registryCheck,
    prompt: options.prompt,
    ...(options.promptTries === undefined ? {} : { promptTries: options.promptTries }),
    warn: (message) => terminal.err(`mp-sideload: warning: ${message}\n`),
    debug: options.debug,
    rateLimits: {
      retries: inputs.retries,
      waitBudgetMs: inputs.timeoutMs,
      onWait: (wait) => terminal.err(`mp-sideload: ${rateLimitWaitMessage(wait)}\n`),
    },
  });
}

/**
 * The commands' front: every unknown host key at once, then one "go?" (pull, unless --yes).
 * Nothing is asked mid-batch but a password, with the board paused. Declined host keys leave
 * their proxies in the run, where they fail HOSTKEY_UNKNOWN.
 */
export const commandFront: SideloadFront = {
  async beforeBatch({ inputs, output, resolved, ask, terminal }) {
    const { proxies, images, knownHostsFile } = resolved;
    const { trusted } = await confirmHostKeys(proxies, knownHostsFile, ask, terminal);
    if (inputs.mode !== "pull" || output.yes) return proxies;
    const what = images.length === 1 ? images[0]?.reference : `${images.length} images`;
    const count = `${proxies.length} prox${proxies.length === 1 ? "y" : "ies"}`;
    const keys = `${trusted} host key${trusted === 1 ? " was" : "s were"} added to ${printable(knownHostsFile)}`;
    const then = inputs.prune ? ", then remove old images of their repositories" : "";
    const go = await ask.confirmRun(`Pull ${what} onto ${count}${then}?`).catch((error: unknown) => {
      // Interrupted at "go?": the proxies are untouched, but known_hosts is not.
      if (trusted > 0 && error instanceof SideloadError && error.code === "INTERRUPTED")
        throw new SideloadError(
          "INTERRUPTED",
          `interrupted at a prompt: nothing done on the proxies (${keys})`,
          { signal: error.signal },
        );
      throw error;
    });
    if (go) return proxies;
    terminal.err(trusted > 0 ? `nothing done on the proxies (${keys})\n` : "nothing done\n");
    return "declined";
  },
};

/** The report on stdout, then the files (render/outputs.ts); `verify --running`'s rows with it. */
function writeResults(
  report: BatchReport,
  output: SideloadOutput,
  terminal: Terminal,
  running?: RunningReport,
): Promise<void> {
  const human = renderReportHuman(report);
  return writeOutputs(terminal, output, {
    json:
      running === undefined
        ? renderReportJson(report)
        : `${JSON.stringify({ ...reportDocument(report), running }, null, 2)}\n`,
    human: running === undefined ? human : `${human}${renderRunningLines(running).join("\n")}\n`,
    junit: () => renderJunit(report),
  });
}

/** The live board on stderr. */
export function stderrBoard(terminal: Terminal) {
  return {
    write: (text: string) => void process.stderr.write(text),
    columns: () => process.stderr.columns || 80,
    rows: () => process.stderr.rows || 24,
    color: terminal.color,
  };
}

/** The answers of a `pull` or `verify` run, as its flags give them. */
export type SideloadValues = {
  -readonly [K in keyof typeof sideloadOptions]?: (typeof sideloadOptions)[K] extends { multiple: true }
    ? string[]
    : (typeof sideloadOptions)[K] extends { type: "boolean" }
      ? boolean
      : string;
};
