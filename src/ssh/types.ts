/**
 * The types the SSH modules share: how host keys are checked and where credentials come from.
 * Kept apart so that the connection and its helpers (host key check, auth attempts) import
 * them without importing each other.
 */
import type { SideloadError } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";

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
  confirm?: ((proxy: Proxy, fingerprint: string, keyType: string) => Promise<boolean>) | undefined;
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
