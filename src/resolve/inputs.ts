/**
 * The typed inputs of a sideload run: what the flags (or the wizard's answers) say, turned into
 * plain data once, at the edge, in `src/cli`. Nothing below the command sees argv.
 */

import type { OpsConnection } from "../ops/suite-api.js";
import { defaultPruneKeep } from "../prune/prune-select.js";

/** VCF Operations as a target source: the connection, and which of its cloud proxies. */
export interface OpsQuery {
  connection: OpsConnection;
  /** `--collector-group`: these groups' members, not the groups holding the pak's kinds. */
  collectorGroups?: string[] | undefined;
  /** `--ops-all`: every cloud proxy. */
  all?: boolean | undefined;
  /** `--ops-ca`'s file, whose PEM is in `connection.ca`: for the wizard's equivalent command. */
  caFile?: string | undefined;
}

/** Which proxies, and the route details that apply to all of them. */
export interface ProxyQuery {
  /** `--ops`: the proxies VCF Operations names (an inventory then only adds connection details). */
  ops?: OpsQuery | undefined;
  /** `--inventory` files or folders, in the order given. */
  inventories: string[];
  /** `--proxy [user@]host[:port]` entries. */
  proxies: string[];
  /** `--limit` patterns. */
  limit: string[];
  /** `--only-failed REPORT`: only what an earlier report left unfinished. */
  onlyFailed?: string | undefined;
  /** `--ssh-user`, when given (else `root`, or the ssh config's `User`). */
  sshUser?: string | undefined;
  /** `--ssh-config FILE|none`; undefined: ~/.ssh/config when it exists. */
  sshConfig?: string | undefined;
  /** `--jump` hops for every proxy, like `ssh -J`. */
  jump: string[];
  /** `--become`, `--become-user` and the sudo password for every proxy (the inventory's win). */
  become?: BecomeQuery | undefined;
}

/** Privilege escalation (sudo) on the proxies, from the command line and the environment. */
export interface BecomeQuery {
  /** `--become`: on for every proxy (else only where the inventory turns it on). */
  enabled: boolean;
  /** `--become-user`: for proxies whose inventory names none (default root). */
  user?: string | undefined;
  /** `--become-password-stdin` or MP_SIDELOAD_BECOME_PASSWORD. A secret: never printed. */
  password?: string | undefined;
}

/** How to reach the proxies over SSH: host keys and the keys to offer. */
export interface SshInputs {
  /** `--known-hosts`, when given (else ~/.ssh/known_hosts). */
  knownHostsFile?: string | undefined;
  acceptNewHostKeys: boolean;
  /** `--identity` files, in the order given. */
  identities: string[];
}

/**
 * The run's defaults, for the flags of every per-proxy command and the wizard alike: the one
 * place their numbers are written (the help texts read them too).
 */
export const runDefaults = {
  concurrency: 8,
  /** Per proxy, for `pull`, `verify` and `prune`. */
  timeoutSeconds: 900,
  /** Per proxy, for `doctor`: it only reads, so a proxy that hangs is found sooner. */
  doctorTimeoutSeconds: 60,
  retries: 3,
  stallTimeoutSeconds: 60,
  /** `prune` and `pull --prune`: old images kept per repository besides the current ones. */
  keep: defaultPruneKeep,
  /** `install --install-timeout`: the wait for a busy VCF Operations, the upload and the install. */
  installTimeoutSeconds: 1800,
} as const;

/** `install`: after the sideloads, the pak installed into VCF Operations (`--ops`). */
export interface InstallInputs {
  /** `--force`: CLOBBER an earlier upload, then force_content_update. */
  force: boolean;
  /** `--install-timeout`, in ms. */
  timeoutMs: number;
}

/** What a `pull` or `verify` run works on and how. */
export interface SideloadInputs {
  mode: "pull" | "verify";
  /** Pak files, or folders of them. */
  paks: string[];
  /** `--default-registry`, for a pak that names no registry. */
  defaultRegistry?: string | undefined;
  targets: ProxyQuery;
  ssh: SshInputs;
  /** `--registry-ca FILE` (pull only). */
  registryCaFile?: string | undefined;
  /** False with `--no-registry-check`. */
  registryCheck: boolean;
  concurrency: number;
  timeoutMs: number;
  retries: number;
  /** `--stall-timeout`: a pull with no progress for this long is re-issued. */
  stallTimeoutMs?: number | undefined;
  /** `pull --prune [--keep N]`: old images removed once a proxy's images are verified. */
  prune?: { keep: number } | undefined;
  /** `pull --relay [auto]`: through the relay, for every proxy or those that cannot reach the registry. */
  relay?: "all" | "auto" | undefined;
  /** `verify --running` (with `--ops`): the adapter containers of each instance checked too. */
  running?: boolean | undefined;
  /** `install` (a pull, then the install), from the command or the wizard's "install now?". */
  install?: InstallInputs | undefined;
}
