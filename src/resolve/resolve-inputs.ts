/**
 * The first arrow of the pipeline: the run's inputs read and checked, before anything connects
 * anywhere. Paks become adapter images; inventories, `--proxy` entries, an earlier report and
 * `--limit` become the proxies, each with its route (ssh config, jump hosts).
 */
import { stat, writeFile } from "node:fs/promises";
import { SideloadError, quote } from "../errors.js";
import { describeFsError } from "../files.js";
import { readLimit, selectProxies } from "../inventory/host-pattern.js";
import { loadInventories } from "../inventory/load-inventory.js";
import { parseProxyArg, type Proxy } from "../inventory/proxy.js";
import { resolveRoutes } from "./routes.js";
import type { Pak } from "../pak/read-pak.js";
import { readPaks, type AdapterImage } from "../pak/read-paks.js";
import { readCaOption } from "../registry/ca-file.js";
import { resolveOpsProxies } from "../ops/ops-source.js";
import { mergeInventoryDetails, opsProxiesToTargets, type OpsGroup } from "../ops/resolve.js";
import { readEarlierReport, type UnfinishedProxy } from "./earlier-report.js";
import { defaultKnownHostsFile } from "../ssh/known-hosts-file.js";
import { openSshConfig } from "../ssh/ssh-config.js";
import type { BecomeQuery, OpsQuery, ProxyQuery, SideloadInputs, SshInputs } from "./inputs.js";

/** The proxies of a run, and (from VCF Operations) the collector groups they belong to. */
export interface ResolvedProxies {
  proxies: Proxy[];
  /** The collector groups involved, for the coverage verdict; empty without --ops. */
  groups: OpsGroup[];
}

/** Everything a run needs, read and checked. */
export interface ResolvedInputs extends ResolvedProxies {
  paks: Pak[];
  images: AdapterImage[];
  /** PEM of `--registry-ca`, checked. */
  registryCa?: string | undefined;
  knownHostsFile: string;
}

/** known_hosts as given, else OpenSSH's default (the home from the password database if HOME is unusable). */
export function knownHostsFileOf(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return given ?? defaultKnownHostsFile(env);
}

/**
 * A `--known-hosts` that does not exist is a typo, not an empty list that makes every key
 * unknown: FILE_NOT_FOUND, unless new keys may be recorded, when it is created (0600) as OpenSSH
 * creates its own. The default file may be missing: it is empty then.
 */
export async function checkKnownHostsFile(ssh: SshInputs): Promise<void> {
  const file = ssh.knownHostsFile;
  if (file === undefined || (await stat(file).catch(() => undefined)) !== undefined) return;
  if (!ssh.acceptNewHostKeys) {
    throw new SideloadError("FILE_NOT_FOUND", `${file}: no such known_hosts file`, {
      hint: "check the path given to --known-hosts, or add --accept-new-host-keys to start one",
    });
  }
  try {
    await writeFile(file, "", { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw new SideloadError(
      "FILE_NOT_WRITABLE",
      `${file}: cannot create the known_hosts file: ${describeFsError(error)}`,
      {
        hint: "check the path given to --known-hosts and its folder",
      },
    );
  }
}

/**
 * Read the paks, the CA and the proxies of a run, in that order: a bad input is an exit-2 error
 * before any connection.
 */
export async function resolveInputs(
  inputs: SideloadInputs,
  env: NodeJS.ProcessEnv,
  onDebug?: (message: string) => void,
  onWarning?: (message: string) => void,
): Promise<ResolvedInputs> {
  const { paks, images } = await readPaks(inputs.paks, inputs.defaultRegistry);
  const registryCa =
    inputs.mode === "pull" && inputs.registryCaFile !== undefined
      ? await readCaOption(inputs.registryCaFile)
      : undefined;
  const { proxies, groups } = await resolveProxies(inputs.targets, images, env, onDebug, onWarning);
  await checkKnownHostsFile(inputs.ssh);
  return {
    paks,
    images,
    proxies,
    groups,
    registryCa,
    knownHostsFile: knownHostsFileOf(inputs.ssh.knownHostsFile, env),
  };
}

/**
 * The proxies to work on: the cloud proxies VCF Operations names for these images' kinds (or
 * the inventories), and `--proxy` entries, narrowed by `--only-failed` (an earlier report for
 * these images) and `--limit`, each with its route.
 */
export async function resolveProxies(
  query: ProxyQuery,
  images: AdapterImage[],
  env: NodeJS.ProcessEnv,
  onDebug?: (message: string) => void,
  onWarning?: (message: string) => void,
): Promise<ResolvedProxies> {
  const sshUser = query.sshUser ?? "root";
  const userGiven = query.sshUser !== undefined;
  const references = images.map((i) => i.reference);
  // Checked before the inventory: a report for another pak is refused whatever else is given.
  const unfinished =
    query.onlyFailed === undefined ? undefined : await readEarlierReport(query.onlyFailed, references);
  const inventory =
    query.inventories.length === 0
      ? undefined
      : await loadInventories(query.inventories, { defaultUser: sshUser, userGiven, onWarning });
  const fromOps =
    query.ops === undefined
      ? undefined
      : await proxiesFromOps(query.ops, images, { sshUser, userGiven, inventory: inventory?.proxies });
  // concat, not push(...): a spread of a large array overflows the call stack.
  let proxies: Proxy[] = (fromOps?.proxies ?? inventory?.proxies ?? []).concat(
    query.proxies.map((p) => parseProxyArg(p, sshUser, userGiven)),
  );
  if (unfinished !== undefined) proxies = onlyUnfinished(proxies, unfinished, sshUser, userGiven);
  if (proxies.length === 0 && unfinished === undefined) {
    throw new SideloadError("NO_PROXIES", "no proxies given", {
      hint: "pass --proxy HOST (repeatable), --inventory FILE or --ops URL",
    });
  }
  const limit = await readLimit(query.limit);
  // Ops' collector groups are in each proxy's groups: the inventory's index does not know them.
  const index = fromOps === undefined ? inventory?.index : undefined;
  const selected = selectProxies(proxies, limit, index, (p) =>
    onWarning?.(`--limit: ${quote(p)} matches no host or group`),
  );
  if (selected.length === 0 && unfinished === undefined) {
    throw new SideloadError("NO_PROXIES", `no proxy matches --limit ${quote(query.limit.join(","))}`, {
      hint: "--limit takes Ansible's host patterns: names, groups, a:b, a:&b, a:!b, globs, ~regex",
    });
  }
  const reader = openSshConfig(query.sshConfig, env);
  onDebug?.(reader ? `ssh config ${reader.file} read with ${reader.via}` : "no ssh config applied");
  const jump = query.jump.flatMap((j) => j.split(",")).filter((j) => j !== "");
  const routed = await resolveRoutes(selected, reader, {
    jump: jump.length > 0 ? jump : undefined,
    defaultUser: sshUser,
  });
  return { proxies: withBecome(routed, query.become), groups: fromOps?.groups ?? [] };
}

/**
 * `--become` turns become on for every proxy; the user and password of the command line fill
 * in what a proxy's inventory entry does not say (an inventory's own values win, as Ansible's
 * connection variables win over its command line).
 */
export function withBecome(proxies: Proxy[], query: BecomeQuery | undefined): Proxy[] {
  if (query === undefined) return proxies;
  return proxies.map((proxy) => {
    const own = proxy.become;
    if (!query.enabled && own === undefined) return proxy;
    return {
      ...proxy,
      become: {
        ...own,
        enabled: query.enabled || (own?.enabled ?? false),
        method: "sudo",
        user: own?.user ?? query.user,
        password: own?.password ?? query.password,
      },
    };
  });
}

/** The cloud proxies VCF Operations names for the images' adapter kinds, as proxies to reach. */
async function proxiesFromOps(
  ops: OpsQuery,
  images: AdapterImage[],
  ssh: { sshUser: string; userGiven: boolean; inventory: Proxy[] | undefined },
): Promise<{ proxies: Proxy[]; groups: OpsGroup[] }> {
  const kinds = [...new Set(images.map((i) => i.kind))];
  const { proxies, groups } = await resolveOpsProxies(ops.connection, {
    kinds,
    collectorGroups: ops.collectorGroups,
    all: ops.all,
  });
  const targets = opsProxiesToTargets(proxies, ssh.sshUser, ssh.userGiven);
  // An --inventory given as well supplies connection details for the proxies Ops lists.
  return { proxies: ssh.inventory ? mergeInventoryDetails(targets, ssh.inventory) : targets, groups };
}

/** Only what an earlier report left unfinished: its proxies, each with its unfinished references. */
function onlyUnfinished(
  proxies: Proxy[],
  unfinished: UnfinishedProxy[],
  sshUser: string,
  userGiven: boolean,
): Proxy[] {
  if (proxies.length === 0) {
    return unfinished.map((f) => ({
      ...f,
      user: sshUser,
      groups: [],
      ...(userGiven ? {} : { defaulted: ["user" as const] }),
    }));
  }
  const left = new Map(unfinished.map((f) => [f.name, f]));
  return proxies.flatMap((p) => {
    const f = left.get(p.name);
    return f === undefined ? [] : [{ ...p, references: f.references }];
  });
}
