/**
 * The types the SSH modules share: how host keys are checked and where credentials come from.
 * Kept apart so that the connection and its helpers (host key check, auth attempts) import
 * them without importing each other.
 */
import type { SideloadError } from "../errors.js";
import type { SshReach } from "../host-reach.js";

/** A jump host on the way to a target, as the SSH layer needs it. */
export interface SshHop {
  /** As written (an ssh config alias, or the host). */
  name: string;
  host: string;
  port: number;
  user: string;
  identityFiles?: string[] | undefined;
}

/**
 * What the SSH layer needs of a host to reach it (`SshReach`, shared with the inventory), with
 * jump hosts of its own type: a target of any source has these fields.
 */
export interface SshTarget extends SshReach {
  /** The jump hosts, in order. */
  jump?: SshHop[] | undefined;
}

/** An identity file's bytes, or why it cannot be used. */
export type IdentityBytes = { bytes: Buffer } | { error: SideloadError; missing: boolean };

/** How host keys are checked; shared by every connection of a run. */
export interface HostKeyPolicy {
  knownHostsFile: string;
  /** --known-hosts was given: it wins over a proxy's UserKnownHostsFile from the ssh config. */
  knownHostsExplicit?: boolean;
  /** Record unknown keys and go on (`StrictHostKeyChecking=accept-new`). */
  acceptNew: boolean;
  /** Ask the user about an unknown key (interactive runs only). */
  confirm?: ((proxy: SshTarget, fingerprint: string, keyType: string) => Promise<boolean>) | undefined;
}

/** Where SSH credentials come from; each is asked for only when the server wants it. */
export interface SshAuthSources {
  /** ssh-agent socket (SSH_AUTH_SOCK). */
  agent?: string | undefined;
  /** Private key files tried in order (after the proxy's own identity): --identity. */
  identities: string[];
  /** OpenSSH's default keys, tried last unless the ssh config names IdentityFile for the host. */
  defaultIdentities?: string[];
  /** The SSH password (env or prompt), requested lazily. */
  password?: (() => Promise<string | undefined>) | undefined;
  /** A key's passphrase (prompt), requested lazily, at most once per file and run. */
  passphrase?: ((file: string) => Promise<string | undefined>) | undefined;
  /**
   * The sudo password of `sshUser` (a prompt), requested only when sudo on a proxy wants one
   * that no other source gave (become; see src/ssh/sudo.ts).
   */
  becomePassword?: ((sshUser: string) => Promise<string | undefined>) | undefined;
}
