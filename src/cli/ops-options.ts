/**
 * The VCF Operations options (`--ops URL` and its credentials, CA and selection), turned once
 * into the typed inputs of src/ops: an OpsConnection and an OpsSelection. Shared by `proxies`
 * and, through the same functions, by `pull`, `verify` and `doctor`. No option takes a secret.
 */
import { SideloadError } from "../errors.js";
import { registerSecret } from "../redact.js";
import type { Proxy } from "../inventory/proxy.js";
import {
  resolveOpsProxies,
  type OpsConnection,
  type OpsGroup,
  type OpsSelection,
} from "../ops/ops-source.js";
import { mergeInventoryDetails, opsProxiesToTargets } from "../ops/resolve.js";
import { parseOpsUrl } from "../ops/suite-api.js";
import { intOption } from "./args.js";
import { readCaOption } from "../registry/ca-file.js";
import type { Terminal } from "./terminal.js";

export const opsOptionSpecs = {
  ops: { type: "string" },
  "ops-user": { type: "string" },
  "ops-password-stdin": { type: "boolean" },
  "ops-auth-source": { type: "string" },
  "ops-ca": { type: "string" },
  "ops-timeout": { type: "string" },
  "collector-group": { type: "string", multiple: true },
  "ops-all": { type: "boolean" },
} as const;

/** How to reach VCF Operations: the help lines of every command that talks to it. */
export const opsConnectionHelp = `  --ops URL                   https://OPS-NODE (or MP_SIDELOAD_OPS_URL)
  --ops-user USER             or MP_SIDELOAD_OPS_USER, else asked in a terminal
  --ops-password-stdin        read the password from stdin; or MP_SIDELOAD_OPS_PASSWORD, else asked
  --ops-auth-source NAME      an Ops auth source (LDAP, vIDM…); default the local users
  --ops-ca FILE               also trust this PEM CA (besides the system's and NODE_EXTRA_CA_CERTS)
  --ops-timeout SECONDS       per Suite API request (default 30)
`;

export const opsOptionsHelp = `VCF Operations (targets from its cloud proxies, collector groups and adapter instances):
${opsConnectionHelp}  --collector-group NAME      the members of this collector group (repeatable), e.g. for a first install
  --ops-all                   every cloud proxy Ops knows
`;

export interface OpsValues {
  ops?: string | undefined;
  "ops-user"?: string | undefined;
  "ops-password-stdin"?: boolean | undefined;
  "ops-auth-source"?: string | undefined;
  "ops-ca"?: string | undefined;
  "ops-timeout"?: string | undefined;
  "collector-group"?: string[] | undefined;
  "ops-all"?: boolean | undefined;
}

/** The Ops URL of a run (`--ops`, else MP_SIDELOAD_OPS_URL), or undefined when Ops is not a source. */
export function opsUrlOf(values: OpsValues, env: NodeJS.ProcessEnv): string | undefined {
  const url = values.ops ?? (env.MP_SIDELOAD_OPS_URL || undefined);
  if (url === undefined && (values["collector-group"]?.length || values["ops-all"])) {
    throw new SideloadError("USAGE", "--collector-group and --ops-all need --ops URL", {
      hint: "e.g. --ops https://ops.example.com --collector-group east-group",
    });
  }
  return url;
}

/** How `--ops-ca` names itself when its file is read (by the flag and by the wizard). */
export const opsCaOption = { option: "--ops-ca", what: "VCF Operations CA", server: "VCF Operations" };

/**
 * The connection for `url`: credentials from --ops-user/--ops-password-stdin, the environment,
 * or masked prompts in a terminal (never argv). The password is registered as a secret, so no
 * output can show it; without a terminal, missing credentials exit 2 naming the variables.
 */
export async function opsConnectionFrom(
  url: string,
  values: OpsValues,
  terminal: Terminal,
  onDebug?: (message: string) => void,
): Promise<OpsConnection> {
  const where = parseOpsUrl(url).host;
  if (values["collector-group"]?.length && values["ops-all"]) {
    throw new SideloadError("USAGE", "--collector-group and --ops-all exclude each other", {
      hint: "give the collector groups to target, or --ops-all for every cloud proxy",
    });
  }
  const ca = values["ops-ca"] === undefined ? undefined : await readCaOption(values["ops-ca"], opsCaOption);
  const timeoutMs = intOption("ops-timeout", values["ops-timeout"], 30, 1, 3600) * 1000;
  const ask = terminal.interactive ? (await import("./prompts.js")).prompts : undefined;
  const user =
    values["ops-user"] ?? (terminal.env.MP_SIDELOAD_OPS_USER || undefined) ?? (await ask?.opsUser(where));
  let password: string | undefined;
  if (values["ops-password-stdin"]) {
    password = (await terminal.readStdin()).replace(/\r?\n$/, "");
    if (password === "")
      throw new SideloadError("CREDENTIALS_MISSING", "--ops-password-stdin: stdin was empty", {
        hint: "pipe the password in, e.g. from a secret store",
      });
  } else password = terminal.env.MP_SIDELOAD_OPS_PASSWORD || undefined;
  registerSecret(password);
  if (user !== undefined && password === undefined && ask) password = await ask.opsPassword(where, user);
  registerSecret(password);
  if (user === undefined || password === undefined) {
    throw new SideloadError(
      "CREDENTIALS_MISSING",
      `VCF Operations ${where}: no ${user === undefined ? "user" : "password"}`,
      {
        hint: "set MP_SIDELOAD_OPS_USER and MP_SIDELOAD_OPS_PASSWORD, or pass --ops-user USER with --ops-password-stdin",
      },
    );
  }
  return {
    url,
    user,
    password,
    authSource: values["ops-auth-source"],
    ca,
    env: terminal.env,
    signal: terminal.signal,
    timeoutMs,
    onDebug,
  };
}

/** Which proxies to take from Ops, for a pak of these adapter kinds. */
export function opsSelectionFrom(values: OpsValues, kinds: string[]): OpsSelection {
  return { kinds, collectorGroups: values["collector-group"], all: values["ops-all"] };
}

/** What `--ops` gives a proxy command: the targets and what the coverage verdict needs. */
export interface OpsTargetsForRun {
  /** Ready for selectProxies (--limit) and resolveRoutes, like an inventory's proxies. */
  proxies: Proxy[];
  groups: OpsGroup[];
  /** Printable notes (internal collectors skipped, DOWN proxies), for --debug or --dry-run. */
  notes: string[];
}

/**
 * The proxies VCF Operations names for a pak of `kinds`, as Proxy[]: SSH to each hostName
 * (port and user open to the ssh config unless --ssh-user was given), with connection details
 * from `inventory` (an --inventory given as well) for the proxies it also lists. Throws before
 * any proxy is contacted (OPS_*, CREDENTIALS_MISSING, USAGE; all exit 2).
 */
export async function opsTargetsFor(
  url: string,
  values: OpsValues,
  kinds: string[],
  terminal: Terminal,
  ssh: { user: string; userGiven: boolean; inventory?: Proxy[] | undefined },
  onDebug?: (message: string) => void,
): Promise<OpsTargetsForRun> {
  const connection = await opsConnectionFrom(url, values, terminal, onDebug);
  const { proxies, groups, notes } = await resolveOpsProxies(connection, opsSelectionFrom(values, kinds));
  const targets = opsProxiesToTargets(proxies, ssh.user, ssh.userGiven);
  return {
    proxies: ssh.inventory === undefined ? targets : mergeInventoryDetails(targets, ssh.inventory),
    groups,
    notes,
  };
}
