/**
 * The wizard's questions, in order, each answer a value returned (nothing filled in later):
 * the pak or paks (and the proxies' default registry when a pak names none), then which proxies
 * (an inventory and which of its hosts, proxies typed, or VCF Operations, its CA when this
 * machine does not trust it, and the collector groups for a first install). `inputsOfAnswers`
 * then turns them into the `SideloadInputs` the flags give. `askRelay` asks whether a proxy that
 * cannot reach the registry gets the image through this machine (`--relay auto`).
 */
import { basename, resolve } from "node:path";
import { SideloadError, hostPort, printable } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";
import { readOpsView } from "../ops/ops-source.js";
import { parseOpsUrl } from "../ops/suite-api.js";
import type { Pak } from "../pak/read-pak.js";
import { readPaks, type AdapterImage } from "../pak/read-paks.js";
import { readCaOption } from "../registry/ca-file.js";
import { checkRelayable } from "../relay/relay-run.js";
import { runDefaults, type OpsQuery, type ProxyQuery, type SideloadInputs } from "../resolve/inputs.js";
import { resolveProxies } from "../resolve/resolve-inputs.js";
import { opsCaOption, opsConnectionFrom } from "./ops-options.js";
import type { Choice, ChoiceGroup, prompts } from "./prompts.js";
import type { Terminal } from "./terminal.js";
import {
  inventoriesIn,
  paksIn,
  splitProxyList,
  validatePakPath,
  validateProxyList,
  validateRegistry,
} from "./wizard-folder.js";

type Prompts = typeof prompts;

const anotherPath = Symbol("another path");
const typeProxies = Symbol("type proxies");
const fromOps = Symbol("from VCF Operations");
const everyProxy = Symbol("every cloud proxy");

/** The paks chosen, as read (the wizard shows what it found). */
export interface PakAnswers {
  paks: string[];
  defaultRegistry: string | undefined;
  read: { paks: Pak[]; images: AdapterImage[] };
}

/** Every answer of the wizard: what a pull's flags would say. */
export interface WizardAnswers extends Omit<PakAnswers, "read"> {
  /** Only which proxies: the route details (ssh user, config, jumps) are the flags' defaults. */
  targets: Pick<ProxyQuery, "inventories" | "proxies" | "limit" | "ops">;
  /** "Install the pack now?" (proxies from VCF Operations): the run is `install`'s. */
  install?: boolean | undefined;
  /** "If a proxy cannot reach the registry, carry the image through SSH?": yes is `--relay auto`. */
  relay?: "auto" | undefined;
}

/** The answers as the typed inputs of `pull`, with the run's defaults the flags have. */
export function inputsOfAnswers(answers: WizardAnswers): SideloadInputs {
  return {
    mode: "pull",
    paks: answers.paks,
    defaultRegistry: answers.defaultRegistry,
    targets: { ...answers.targets, jump: [] },
    ssh: { acceptNewHostKeys: false, identities: [] },
    registryCheck: true,
    concurrency: runDefaults.concurrency,
    timeoutMs: runDefaults.timeoutSeconds * 1000,
    retries: runDefaults.retries,
    ...(answers.relay === undefined ? {} : { relay: answers.relay }),
    ...(answers.install && answers.targets.ops !== undefined
      ? { install: { force: false, timeoutMs: runDefaults.installTimeoutSeconds * 1000 } }
      : {}),
  };
}

/**
 * Step 1: a pak of this folder (newest first, with kind and version), several of them when the
 * folder holds more than one (a multi-select, the newest checked), or a path typed and checked;
 * then read, asking for the proxies' default registry when a pak names none.
 */
export async function askPaks(cwd: string, ask: Prompts): Promise<PakAnswers> {
  const files = await choosePaks(cwd, ask);
  try {
    return { paks: files, defaultRegistry: undefined, read: await readPaks(files, undefined) };
  } catch (error) {
    if (!(error instanceof SideloadError && error.code === "NO_DEFAULT_REGISTRY")) throw error;
    const registry = await ask.text(
      "This pak names no registry. The proxies' default registry (host[:port]):",
      validateRegistry,
    );
    return { paks: files, defaultRegistry: registry, read: await readPaks(files, registry) };
  }
}

async function choosePaks(cwd: string, ask: Prompts): Promise<string[]> {
  const found = await paksIn(cwd);
  const readable = found.filter((f) => f.problem === undefined);
  const typed = async () => resolve(cwd, await ask.text("Path of the .pak:", validatePakPath(cwd)));
  if (readable.length < 2) {
    const choices: Choice<string | typeof anotherPath>[] = found.map((f) => ({
      name: printable(f.label),
      value: f.file,
      ...(f.problem ? { disabled: `(${f.problem})` } : {}),
    }));
    choices.push({ name: "another path…", value: anotherPath });
    const picked = await ask.choose("Which management pack?", choices);
    return [picked === anotherPath ? await typed() : picked];
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
  if (picked.includes(anotherPath)) files.push(await typed());
  return files;
}

/**
 * Step 3: an inventory of this folder (or the last one used) and which of its proxies, proxies
 * typed, or VCF Operations (settled with `askOpsTargets`).
 */
export async function askTargets(
  cwd: string,
  last: string | undefined,
  images: AdapterImage[],
  ask: Prompts,
  terminal: Terminal,
): Promise<WizardAnswers["targets"]> {
  const none = { inventories: [], proxies: [], limit: [] };
  const inventories = await inventoriesIn(cwd, last);
  const choices: Choice<string | typeof typeProxies | typeof fromOps>[] = inventories.map((i) => ({
    name: printable(
      `${i.file === last ? `${i.file} (last used)` : basename(i.file)}  ${i.proxies.length} prox${i.proxies.length === 1 ? "y" : "ies"}`,
    ),
    value: i.file,
  }));
  choices.push({ name: "type proxies ([user@]host[:port], …)", value: typeProxies });
  choices.push({ name: "from VCF Operations (the cloud proxies it names for this pak)", value: fromOps });
  const picked = await ask.choose("Which cloud proxies?", choices);
  if (picked === fromOps) return { ...none, ops: await askOpsTargets(images, ask, terminal) };
  if (picked === typeProxies) {
    const typed = await ask.text("Proxies, separated by commas or spaces:", validateProxyList);
    return { ...none, proxies: splitProxyList(typed) };
  }
  const inventory = inventories.find((i) => i.file === picked) as { file: string; proxies: Proxy[] };
  const chosen = await ask.pickMany(
    "Which proxies? (space toggles, enter confirms)",
    groupedProxies(inventory.proxies),
  );
  terminal.out(`${chosen.length} of ${inventory.proxies.length} proxies selected\n`);
  return {
    ...none,
    inventories: [inventory.file],
    limit: chosen.length < inventory.proxies.length ? chosen : [],
  };
}

/** An inventory's proxies under their first group, for the checkbox. */
function groupedProxies(proxies: Proxy[]): ChoiceGroup<string>[] {
  const groups = new Map<string, Choice<string>[]>();
  for (const proxy of proxies) {
    const group = proxy.groups[0] ?? "ungrouped";
    groups.set(group, [
      ...(groups.get(group) ?? []),
      {
        name: printable(`${proxy.name}  ${proxy.user}@${hostPort(proxy.host, proxy.port)}`),
        value: proxy.name,
      },
    ]);
  }
  return [...groups].map(([group, list]) => ({ group: printable(group), choices: list }));
}

/**
 * VCF Operations as the target source: its URL, the user and the password (masked), as `--ops`
 * asks them at a terminal; then asked of Ops which proxies it names for the paks' kinds, asking
 * for its CA while its certificate is not trusted here (`--ops-ca`), and, for a kind with no
 * instance yet (a first install), which collector groups will run them (`--collector-group`,
 * `--ops-all`). The TLS handshake fails before any credential is sent.
 */
async function askOpsTargets(images: AdapterImage[], ask: Prompts, terminal: Terminal): Promise<OpsQuery> {
  const url = await ask.text("VCF Operations URL (https://OPS-NODE):", (value) => {
    try {
      parseOpsUrl(value);
      return true;
    } catch (error) {
      return error instanceof SideloadError ? error.message.replace(/^--ops /, "") : String(error);
    }
  });
  let query: OpsQuery = { connection: await opsConnectionFrom(url, {}, terminal) };
  for (let askedCa = 0; ;) {
    try {
      await resolveProxies(
        { ops: query, inventories: [], proxies: [], limit: [], jump: [] },
        images,
        terminal.env,
      );
      return query;
    } catch (error) {
      if (!(error instanceof SideloadError)) throw error;
      const untrusted = error.code === "OPS_UNTRUSTED_CA" && askedCa++ < 3;
      const firstInstall =
        error.code === "OPS_NO_INSTANCES" && query.collectorGroups === undefined && !query.all;
      if (!untrusted && !firstInstall) throw error;
      terminal.out(`${error.message}\n`);
      query = untrusted ? await askOpsCa(query, ask) : await askCollectorGroups(query, ask);
    }
  }
}

/** The CA of VCF Operations, as `--ops-ca FILE` gives it: the query with it. */
async function askOpsCa(query: OpsQuery, ask: Prompts): Promise<OpsQuery> {
  let pem = "";
  const file = await ask.text("CA certificate of VCF Operations (a PEM file):", async (path) => {
    try {
      pem = await readCaOption(path, opsCaOption);
      return true;
    } catch (refused) {
      return refused instanceof SideloadError ? refused.message.replace(/^--ops-ca /, "") : String(refused);
    }
  });
  return { ...query, caFile: resolve(file), connection: { ...query.connection, ca: pem } };
}

/** A first install: which collector groups will run the instances (or every cloud proxy). */
async function askCollectorGroups(query: OpsQuery, ask: Prompts): Promise<OpsQuery> {
  const { groups } = await readOpsView(query.connection, []);
  const choices: Choice<string | typeof everyProxy>[] = groups.map((g) => ({
    name: printable(`${g.name}  ${g.memberIds.length} member${g.memberIds.length === 1 ? "" : "s"}`),
    value: g.name,
    checked: false,
  }));
  choices.push({ name: "every cloud proxy", value: everyProxy, checked: groups.length === 0 });
  const picked = await ask.pickMany("Which collector groups will run its instances?", [
    { group: "collector groups of VCF Operations", choices },
  ]);
  if (picked.includes(everyProxy)) return { ...query, all: true };
  return { ...query, collectorGroups: picked.filter((p): p is string => p !== everyProxy) };
}

/**
 * Whether a proxy that cannot reach the registry gets the image through this machine's SSH
 * connection (`--relay auto`: the others still pull directly). Asked before any proxy is
 * contacted, since no proxy's reach is known earlier than its own pull; not asked for a Docker Hub
 * reference, which the relay cannot carry (then undefined). The default is the last run's answer, else no: the
 * relay writes a line in the proxy's /etc/hosts for its time.
 */
export async function askRelay(
  images: AdapterImage[],
  last: boolean | undefined,
  ask: Prompts,
): Promise<boolean | undefined> {
  try {
    checkRelayable(images);
  } catch {
    return undefined;
  }
  return ask.confirm(
    "If a proxy cannot reach the registry, carry the image through this machine's SSH connection (--relay auto)?",
    last ?? false,
  );
}
