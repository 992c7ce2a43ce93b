/**
 * `mp-sideload` with no arguments, in a terminal: the whole job, asked step by step — the pak,
 * what it references, the proxies, the credentials (with the registry checked), the unknown
 * host keys at once, the plan — then the same pipeline the flags run, with live progress, and
 * at the end the command line that repeats it in a script.
 *
 * The wizard fills the same typed inputs the flags give and calls the same core functions
 * (resolve, gate, plan, run); the equivalent command is printed from those inputs.
 */
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { ExitStatus, SideloadError, hostPort, printable } from "../errors.js";
import { homeDir, writeFileAtomic } from "../files.js";
import { loadInventory } from "../inventory/load-inventory.js";
import { parseProxyArg, type Proxy } from "../inventory/proxy.js";
import type { Pak } from "../pak/read-pak.js";
import { readPaks, type AdapterImage } from "../pak/read-paks.js";
import { checkRegistry } from "../reference.js";
import { readCaOption } from "../registry/ca-file.js";
import type { RegistryPreflight } from "../registry/preflight.js";
import { runDefaults, type OpsQuery, type SideloadInputs } from "../sideload/inputs.js";
import { planOutline, planSideload } from "../sideload/plan.js";
import { RegistryGate } from "../sideload/registry-gate.js";
import { knownHostsFileOf, resolveProxies } from "../sideload/resolve-inputs.js";
import { runSideload, type SideloadResult } from "../sideload/run-sideload.js";
import type { SideloadJob } from "../sideload/types.js";
import { stderrBoard } from "./commands/sideload-command.js";
import { credentialResolver } from "./credential-options.js";
import { confirmHostKeys } from "./host-keys.js";
import type { Choice, ChoiceGroup, prompts } from "./prompts.js";
import { renderPlan, renderReportHuman } from "./render/batch.js";
import { LiveBoard } from "./render/live-board.js";
import { renderPakHuman } from "./render/pak.js";
import { sshAuthPlanOf, sshConnectSetup } from "./targets.js";
import { opsCaOption, opsConnectionFrom } from "./ops-options.js";
import { parseOpsUrl, type OpsConnection } from "../ops/suite-api.js";
import { readOpsView } from "../ops/ops-source.js";
import { interruptedStatus, type Terminal } from "./terminal.js";

const anotherPath = Symbol("another path");
const typeProxies = Symbol("type proxies");
const fromOps = Symbol("from VCF Operations");
const everyProxy = Symbol("every cloud proxy");

/** Run the wizard; returns the exit status. */
export async function runWizard(terminal: Terminal, cwd = process.cwd()): Promise<number> {
  const ask = (await import("./prompts.js")).prompts;
  const spinner = await spinnerFor(terminal);
  const say = (text: string) => terminal.out(`${text}\n`);

  // 1. The pak (or several, when the folder holds more than one).
  const pakFiles = await choosePaks(cwd, ask);
  const input = await readPakOrAskRegistry(pakFiles, undefined, ask);
  // 2. What was found.
  say("");
  for (const pak of input.read.paks) terminal.out(renderPakHuman(pak));
  const images = input.read.images;
  const inputs = pullInputs(pakFiles, input.defaultRegistry);

  // 3. The proxies.
  await chooseProxies(cwd, ask, inputs, terminal);

  // 4. Credentials, and the registry as the proxies will see it: a refused password is asked
  // again (three tries), every earlier answer kept.
  // A question first stops the spinner, so that the two never fight for the line.
  const gate = await wizardGate(images, terminal, spinner);
  const registries = await spinner.during("Checking the registry from this machine", () => gate.settleAll());
  say("");
  for (const line of describeRegistries(registries)) say(line);
  const verdicts = registries.flatMap((r) => r.verdicts);
  if (verdicts.length > 0 && verdicts.every((v) => v.status === "public")) {
    say("\npublic: the proxies can pull these images anonymously at install time; no sideload needed.");
    return ExitStatus.ok;
  }

  // 5. Host keys: every unknown one at once, before anything starts.
  const knownHostsFile = knownHostsFileOf(inputs.ssh.knownHostsFile, terminal.env);
  const all = await resolveWizardProxies(inputs, images, ask, terminal);
  const { proxies } = await confirmHostKeys(all, knownHostsFile, ask, terminal, (text, work) =>
    spinner.during(text, work),
  );
  if (proxies.length === 0)
    throw new SideloadError("HOSTKEY_UNKNOWN", "no proxy with a trusted host key is left", {
      hint: "trust the keys after checking them out of band, or add them with ssh-keyscan",
    });
  // Declined host keys narrow the selection: the repeat command names exactly these proxies.
  if (proxies.length < all.length) inputs.targets.limit = proxies.map((p) => p.name);

  // 6. The plan.
  const job: SideloadJob = { mode: "pull", images, retries: inputs.retries, timeoutMs: inputs.timeoutMs };
  const plan = planSideload(proxies, job, knownHostsFile, await sshAuthPlanOf(inputs.ssh, terminal));
  say("");
  terminal.out(
    renderPlan("pull", plan, {
      heading: "The plan (nothing has been done yet):",
      outline: planOutline(job, knownHostsFile),
      references: images.map((i) => i.reference),
    }),
  );
  if (!(await ask.confirm(`Pull onto ${plan.length} prox${plan.length === 1 ? "y" : "ies"} now?`, true))) {
    say("nothing done");
    return ExitStatus.ok;
  }

  // 7. Run, then the command that repeats it.
  const result = await runOnBoard(proxies, { ...job, registries: gate }, gate, inputs, terminal);
  terminal.out(renderReportHuman(result.report));
  say("");
  for (const line of equivalentCommand(inputs, registries)) say(line);
  await remember({ inventory: inputs.targets.inventories[0] });
  const interrupted = interruptedStatus(terminal.signal);
  if (interrupted !== undefined) return interrupted;
  return result.report.summary.failed === 0 ? ExitStatus.ok : ExitStatus.proxyFailed;
}

/** The inputs of a pull of `pakFiles`, before the proxies are chosen: the flags' defaults. */
function pullInputs(pakFiles: string[], defaultRegistry: string | undefined): SideloadInputs {
  return {
    mode: "pull",
    paks: pakFiles,
    defaultRegistry,
    targets: { inventories: [], proxies: [], limit: [], jump: [] },
    ssh: { acceptNewHostKeys: false, identities: [] },
    registryCheck: true,
    concurrency: runDefaults.concurrency,
    timeoutMs: runDefaults.timeoutSeconds * 1000,
    retries: runDefaults.retries,
  };
}

/** The wizard's registry gate: asks in the terminal, three tries for a mistyped password. */
async function wizardGate(
  images: AdapterImage[],
  terminal: Terminal,
  spinner: Spinner,
): Promise<RegistryGate> {
  return new RegistryGate(images, {
    // A question first stops the spinner, so that the two never fight for the line.
    resolver: await credentialResolver({}, terminal, (question) => spinner.paused(question)),
    env: terminal.env,
    signal: terminal.signal,
    skipCheck: false,
    prompt: true,
    promptTries: 3,
    warn: (message) => terminal.err(`mp-sideload: warning: ${message}\n`),
  });
}

/** Step 7: the batch with the live board on stderr. */
async function runOnBoard(
  proxies: Proxy[],
  job: SideloadJob,
  gate: RegistryGate,
  inputs: SideloadInputs,
  terminal: Terminal,
): Promise<SideloadResult> {
  const board = new LiveBoard(stderrBoard(terminal)).start(proxies.length);
  const ssh = await sshConnectSetup(inputs.ssh, "root", terminal, {
    askHostKeys: true,
    around: (question) => board.paused(question),
  });
  try {
    return await runSideload(proxies, job, gate, {
      concurrency: inputs.concurrency,
      knownHosts: ssh.knownHosts,
      signal: terminal.signal,
      onEvent: board.onEvent,
      connect: ssh.connect,
    });
  } finally {
    board.stop();
    ssh.close();
  }
}

/**
 * Step 1: a pak of this folder (newest first, with kind and version), several of them when the
 * folder holds more than one (a multi-select, the newest checked), or a path typed and checked.
 */
async function choosePaks(cwd: string, ask: Prompts): Promise<string[]> {
  const found = await paksIn(cwd);
  const readable = found.filter((f) => f.problem === undefined);
  if (readable.length < 2) {
    const choices: Choice<string | typeof anotherPath>[] = found.map((f) => ({
      name: printable(f.label),
      value: f.file,
      ...(f.problem ? { disabled: `(${f.problem})` } : {}),
    }));
    choices.push({ name: "another path…", value: anotherPath });
    const picked = await ask.choose("Which management pack?", choices);
    if (picked !== anotherPath) return [picked];
    return [resolve(cwd, await ask.text("Path of the .pak:", validatePakPath(cwd)))];
  }
  const choices: Choice<string | typeof anotherPath>[] = readable.map((f, i) => ({
    name: printable(f.label),
    value: f.file,
    checked: i === 0,
  }));
  choices.push({ name: "another path…", value: anotherPath, checked: false });
  const picked = await ask.pickMany("Which management packs? (space toggles, enter confirms)", [
    { group: "in this folder, newest first", choices },
  ]);
  const files = picked.filter((p): p is string => p !== anotherPath);
  if (picked.includes(anotherPath))
    files.push(resolve(cwd, await ask.text("Path of the .pak:", validatePakPath(cwd))));
  return files;
}

/** The folder's paks, newest first, each with a label (kind, version) or the code of its problem. */
async function paksIn(cwd: string) {
  const names = (await readdir(cwd).catch(() => [])).filter((n) => n.toLowerCase().endsWith(".pak"));
  const found = await Promise.all(
    names.map(async (name) => {
      const file = join(cwd, name);
      const mtime = (await stat(file).catch(() => undefined))?.mtimeMs ?? 0;
      try {
        const pak = (await readPaks([file], undefined)).paks[0] as Pak;
        return { file, mtime, label: `${name}  ${describePak(pak)}`, problem: undefined };
      } catch (error) {
        const code = error instanceof SideloadError ? error.code : "INTERNAL";
        // A pak that names no registry is fine: the next step asks for it.
        return code === "NO_DEFAULT_REGISTRY"
          ? { file, mtime, label: `${name}  (uses the proxies' default registry)`, problem: undefined }
          : { file, mtime, label: name, problem: code };
      }
    }),
  );
  return found.sort((a, b) => b.mtime - a.mtime);
}

/** A typed pak path is accepted only when `inspect` would read it; else inspect's error, inline. */
export function validatePakPath(cwd: string): (value: string) => Promise<string | true> {
  return async (value) => {
    try {
      await readPaks([resolve(cwd, value)], undefined);
      return true;
    } catch (error) {
      if (error instanceof SideloadError && error.code === "NO_DEFAULT_REGISTRY") return true;
      return error instanceof SideloadError ? `${error.code}: ${error.message}` : String(error);
    }
  };
}

/** A registry host[:port] as the reference grammar takes it. */
export function validateRegistry(value: string): string | true {
  const check = checkRegistry(value);
  return check.ok ? true : `${check.problem} (e.g. ${check.example})`;
}

/** `[user@]host[:port]` entries separated by commas or spaces. */
export function validateProxyList(value: string): string | true {
  try {
    const list = value.split(/[\s,]+/).filter(Boolean);
    if (list.length === 0) return "give at least one proxy";
    list.forEach((p) => parseProxyArg(p, "root"));
    return true;
  } catch (error) {
    return error instanceof SideloadError ? error.message : String(error);
  }
}

function describePak(pak: Pak): string {
  return `${pak.adapters.map((a) => a.kind).join(", ")} ${pak.version}`;
}

/** Read the paks; when one names no registry, ask for the proxies' default one. */
async function readPakOrAskRegistry(
  files: string[],
  defaultRegistry: string | undefined,
  ask: Prompts,
): Promise<{ read: { paks: Pak[]; images: AdapterImage[] }; defaultRegistry: string | undefined }> {
  try {
    return { read: await readPaks(files, defaultRegistry), defaultRegistry };
  } catch (error) {
    if (!(error instanceof SideloadError && error.code === "NO_DEFAULT_REGISTRY")) throw error;
    const registry = await ask.text(
      "This pak names no registry. The proxies' default registry (host[:port]):",
      validateRegistry,
    );
    return { read: await readPaks(files, registry), defaultRegistry: registry };
  }
}

/** Step 3: an inventory of this folder (or the last one used), or proxies typed; then which of them. */
async function chooseProxies(
  cwd: string,
  ask: Prompts,
  inputs: SideloadInputs,
  terminal: Terminal,
): Promise<void> {
  const candidates = new Set<string>();
  const last = (await recall()).inventory;
  if (last !== undefined) candidates.add(last);
  for (const name of (await readdir(cwd).catch(() => [])).sort()) {
    if (/\.(ya?ml|ini)$/i.test(name) || name === "hosts") candidates.add(join(cwd, name));
  }
  const inventories: { file: string; proxies: Proxy[] }[] = [];
  for (const file of candidates) {
    try {
      inventories.push({ file, proxies: await loadInventory(file, "root", false) });
    } catch {
      // not an inventory (another YAML file of the folder): not offered
    }
  }
  const choices: Choice<string | typeof typeProxies | typeof fromOps>[] = inventories.map((i) => ({
    name: printable(
      `${i.file === last ? `${i.file} (last used)` : basename(i.file)}  ${i.proxies.length} prox${i.proxies.length === 1 ? "y" : "ies"}`,
    ),
    value: i.file,
  }));
  choices.push({ name: "type proxies ([user@]host[:port], …)", value: typeProxies });
  choices.push({ name: "from VCF Operations (the cloud proxies it names for this pak)", value: fromOps });
  const picked = await ask.choose("Which cloud proxies?", choices);
  if (picked === fromOps) {
    inputs.targets.ops = { connection: await askOpsConnection(ask, terminal) };
    return;
  }
  if (picked === typeProxies) {
    const typed = await ask.text("Proxies, separated by commas or spaces:", validateProxyList);
    inputs.targets.proxies = typed.split(/[\s,]+/).filter(Boolean);
    return;
  }
  const inventory = inventories.find((i) => i.file === picked) as { file: string; proxies: Proxy[] };
  inputs.targets.inventories = [inventory.file];
  const groups = new Map<string, Choice<string>[]>();
  for (const proxy of inventory.proxies) {
    const group = proxy.groups[0] ?? "ungrouped";
    groups.set(group, [
      ...(groups.get(group) ?? []),
      {
        name: printable(`${proxy.name}  ${proxy.user}@${hostPort(proxy.host, proxy.port)}`),
        value: proxy.name,
      },
    ]);
  }
  const grouped: ChoiceGroup<string>[] = [...groups].map(([group, list]) => ({
    group: printable(group),
    choices: list,
  }));
  const chosen = await ask.pickMany("Which proxies? (space toggles, enter confirms)", grouped);
  if (chosen.length < inventory.proxies.length) inputs.targets.limit = chosen;
  terminal.out(`${chosen.length} of ${inventory.proxies.length} proxies selected\n`);
}

/**
 * The proxies of the answers so far. From VCF Operations, for a kind with no instance yet (a
 * first install), Ops cannot tell which proxies need the image: the collector groups the
 * instances will use are asked (or every cloud proxy), as --collector-group and --ops-all give.
 */
async function resolveWizardProxies(
  inputs: SideloadInputs,
  images: AdapterImage[],
  ask: Prompts,
  terminal: Terminal,
): Promise<Proxy[]> {
  const warn = (message: string) => terminal.err(`mp-sideload: warning: ${message}\n`);
  const resolveAll = () =>
    trustingOps(
      inputs.targets.ops,
      ask,
      terminal,
      async () => (await resolveProxies(inputs.targets, images, terminal.env, undefined, warn)).proxies,
    );
  try {
    return await resolveAll();
  } catch (error) {
    const ops = inputs.targets.ops;
    if (!(ops && error instanceof SideloadError && error.code === "OPS_NO_INSTANCES")) throw error;
    terminal.out(`${error.message}\n`);
    const { groups } = await readOpsView(ops.connection, []);
    const choices: Choice<string | typeof everyProxy>[] = groups.map((g) => ({
      name: printable(`${g.name}  ${g.memberIds.length} member${g.memberIds.length === 1 ? "" : "s"}`),
      value: g.name,
      checked: false,
    }));
    choices.push({ name: "every cloud proxy", value: everyProxy, checked: groups.length === 0 });
    const picked = await ask.pickMany("Which collector groups will run its instances?", [
      { group: "collector groups of VCF Operations", choices },
    ]);
    if (picked.includes(everyProxy)) ops.all = true;
    else ops.collectorGroups = picked.filter((p): p is string => p !== everyProxy);
    return resolveAll();
  }
}

/**
 * `attempt`, asking for the CA of VCF Operations while its certificate is not trusted here (three
 * tries), as `--ops-ca FILE` gives it. The TLS handshake fails before any credential is sent.
 */
async function trustingOps<T>(
  ops: OpsQuery | undefined,
  ask: Prompts,
  terminal: Terminal,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let asked = 0; ; asked++) {
    try {
      return await attempt();
    } catch (error) {
      const untrusted = error instanceof SideloadError && error.code === "OPS_UNTRUSTED_CA";
      if (ops === undefined || !untrusted || asked >= 3) throw error;
      terminal.out(`${error.message}\n`);
      let pem = "";
      const file = await ask.text("CA certificate of VCF Operations (a PEM file):", async (path) => {
        try {
          pem = await readCaOption(path, opsCaOption);
          return true;
        } catch (refused) {
          return refused instanceof SideloadError
            ? refused.message.replace(/^--ops-ca /, "")
            : String(refused);
        }
      });
      ops.caFile = resolve(file);
      ops.connection.ca = pem;
    }
  }
}

/**
 * VCF Operations as the target source: its URL, then the user and the password (masked), as
 * `--ops` asks them at a terminal (opsConnectionFrom). The proxies are those it names for the
 * pak's adapter kinds, resolved with the rest in step 5.
 */
async function askOpsConnection(ask: Prompts, terminal: Terminal): Promise<OpsConnection> {
  const url = await ask.text("VCF Operations URL (https://OPS-NODE):", (value) => {
    try {
      parseOpsUrl(value);
      return true;
    } catch (error) {
      return error instanceof SideloadError ? error.message.replace(/^--ops /, "") : String(error);
    }
  });
  return opsConnectionFrom(url, {}, terminal);
}

function describeRegistries(registries: RegistryPreflight[]): string[] {
  return registries.map((r) => {
    const verdict = r.verdicts.find((v) => v.status === "failed") ?? r.verdicts[0];
    const check =
      verdict === undefined
        ? "not checked"
        : verdict.status === "failed"
          ? `${verdict.error?.code ?? "failed"}: ${verdict.error?.message ?? ""}`
          : verdict.status === "public"
            ? "public (anonymous pulls work)"
            : "ok: the credentials are accepted and the image is there";
    return `registry ${r.registry}: credentials from ${r.credentialSource}; ${check}`;
  });
}

/**
 * The command line that repeats this run without questions: from the same answers, never a
 * secret (the password comes from the environment or where it already lives).
 */
export function equivalentCommand(inputs: SideloadInputs, registries: RegistryPreflight[]): string[] {
  const args = [inputs.mode, ...inputs.paks];
  if (inputs.defaultRegistry !== undefined) args.push("--default-registry", inputs.defaultRegistry);
  const ops = inputs.targets.ops?.connection;
  if (ops !== undefined) args.push("--ops", ops.url, "--ops-user", ops.user);
  for (const g of inputs.targets.ops?.collectorGroups ?? []) args.push("--collector-group", g);
  if (inputs.targets.ops?.all) args.push("--ops-all");
  if (inputs.targets.ops?.caFile !== undefined) args.push("--ops-ca", inputs.targets.ops.caFile);
  for (const i of inputs.targets.inventories) args.push("--inventory", i);
  for (const p of inputs.targets.proxies) args.push("--proxy", p);
  for (const l of inputs.targets.limit) args.push("--limit", l);
  if (inputs.ssh.knownHostsFile !== undefined) args.push("--known-hosts", inputs.ssh.knownHostsFile);
  args.push("--yes");
  const lines = ["To repeat this without questions (in a script or a pipeline):"];
  for (const r of registries) {
    if (r.credentialSource === "prompt" || r.credentialSource === "environment") {
      lines.push(
        `  export MP_SIDELOAD_REGISTRY_USER=${shellQuote(r.auth?.username ?? "USER")}   # and MP_SIDELOAD_REGISTRY_PASSWORD, from your secret store`,
      );
    } else if (r.credentialSource !== "anonymous") {
      lines.push(`  # credentials for ${r.registry} come from ${r.credentialSource}, as in this run`);
    }
  }
  if (ops !== undefined)
    lines.push("  export MP_SIDELOAD_OPS_PASSWORD=…   # the VCF Operations password, from your secret store");
  lines.push(`  mp-sideload ${args.map(shellQuote).join(" ")}`);
  return [...new Set(lines)];
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

type Prompts = typeof prompts;

/** An ora spinner on stderr for one activity at a time; paused while a question is asked. */
interface Spinner {
  during<T>(text: string, work: () => Promise<T>): Promise<T>;
  /** Run `question` with the spinner stopped, then start it again. */
  paused<T>(question: () => Promise<T>): Promise<T>;
}

async function spinnerFor(terminal: Terminal): Promise<Spinner> {
  const { default: ora } = await import("ora");
  let current: ReturnType<typeof ora> | undefined;
  return {
    async during(text, work) {
      current = ora({
        text,
        stream: process.stderr,
        color: terminal.color ? "cyan" : false,
        isEnabled: terminal.interactive,
      }).start();
      try {
        const value = await work();
        current.succeed();
        return value;
      } catch (error) {
        // Esc or Ctrl-C at a question asked meanwhile is the user leaving, not the check failing.
        if (error instanceof SideloadError && error.code === "INTERRUPTED") current.stop();
        else current.fail();
        throw error;
      } finally {
        current = undefined;
      }
    },
    async paused(question) {
      const active = current;
      active?.stop();
      try {
        return await question();
      } finally {
        active?.start();
      }
    },
  };
}

/** The wizard's memory between runs: the last inventory used. */
function stateFile(): string {
  const base = process.env.XDG_STATE_HOME || join(homeDir(process.env), ".local", "state");
  return join(base, "mp-sideload", "wizard.json");
}

async function recall(): Promise<{ inventory?: string }> {
  try {
    const state = JSON.parse(await readFile(stateFile(), "utf8")) as { inventory?: unknown };
    return typeof state.inventory === "string" ? { inventory: state.inventory } : {};
  } catch {
    return {};
  }
}

async function remember(state: { inventory?: string | undefined }): Promise<void> {
  if (state.inventory === undefined) return;
  try {
    await mkdir(join(stateFile(), ".."), { recursive: true, mode: 0o700 });
    await writeFileAtomic(stateFile(), JSON.stringify({ inventory: resolve(state.inventory) }), {
      mode: 0o600,
      what: "wizard state",
    });
  } catch {
    // a memory, not a requirement
  }
}
