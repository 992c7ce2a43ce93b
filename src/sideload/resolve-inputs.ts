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
import { readEarlierReport } from "../report/earlier-report.js";
import { defaultKnownHostsFile } from "../ssh/known-hosts-file.js";
import { openSshConfig } from "../ssh/ssh-config.js";
import type { ProxyQuery, SideloadInputs, SshInputs } from "./inputs.js";

/** Everything a run needs, read and checked. */
export interface ResolvedInputs {
  paks: Pak[];
  images: AdapterImage[];
  proxies: Proxy[];
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
  const proxies = await resolveProxies(
    inputs.targets,
    images.map((i) => i.reference),
    env,
    onDebug,
    onWarning,
  );
  await checkKnownHostsFile(inputs.ssh);
  return {
    paks,
    images,
    proxies,
    registryCa,
    knownHostsFile: knownHostsFileOf(inputs.ssh.knownHostsFile, env),
  };
}

/**
 * The proxies to work on: the inventories and `--proxy` entries, narrowed by `--only-failed`
 * (an earlier report for these `references`) and `--limit`, each with its route.
 */
export async function resolveProxies(
  query: ProxyQuery,
  references: string[],
  env: NodeJS.ProcessEnv,
  onDebug?: (message: string) => void,
  onWarning?: (message: string) => void,
): Promise<Proxy[]> {
  const sshUser = query.sshUser ?? "root";
  const userGiven = query.sshUser !== undefined;
  // Checked before the inventory: a report for another pak is refused whatever else is given.
  const unfinished =
    query.onlyFailed === undefined ? undefined : await readEarlierReport(query.onlyFailed, references);
  const inventory =
    query.inventories.length === 0
      ? undefined
      : await loadInventories(query.inventories, { defaultUser: sshUser, userGiven, onWarning });
  // concat, not push(...): a spread of a large array overflows the call stack.
  let proxies: Proxy[] = (inventory?.proxies ?? []).concat(
    query.proxies.map((p) => parseProxyArg(p, sshUser, userGiven)),
  );
  if (unfinished !== undefined) {
    const left = new Map(unfinished.map((f) => [f.name, f]));
    proxies =
      proxies.length === 0
        ? unfinished.map((f) => ({
            ...f,
            user: sshUser,
            groups: [],
            ...(userGiven ? {} : { defaulted: ["user" as const] }),
          }))
        : proxies.flatMap((p) => {
            const f = left.get(p.name);
            return f === undefined ? [] : [{ ...p, references: f.references }];
          });
  }
  if (proxies.length === 0 && unfinished === undefined) {
    throw new SideloadError("NO_PROXIES", "no proxies given", {
      hint: "pass --proxy HOST (repeatable) or --inventory FILE",
    });
  }
  const limit = await readLimit(query.limit);
  const selected = selectProxies(proxies, limit, inventory?.index, (p) =>
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
  return resolveRoutes(selected, reader, {
    jump: jump.length > 0 ? jump : undefined,
    defaultUser: sshUser,
  });
}
