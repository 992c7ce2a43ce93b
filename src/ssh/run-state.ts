/**
 * The SSH state of one run, owned by whoever builds the run's ConnectOptions and closed with
 * them: known_hosts files named by ssh configurations (read once, added to as keys are
 * accepted), the pending known_hosts writes, and the identity files read, parsed and decrypted
 * once however many proxies use them. Nothing of it lives in a module: two runs in one process
 * (the tests, the wizard after a failed try) never share it.
 */
import type { ParsedKey } from "ssh2";
import type { KnownHostLine } from "./known-hosts.js";
import type { IdentityBytes } from "./types.js";

export class SshRunState {
  /** UserKnownHostsFile sets from ssh configurations, by their joined paths. */
  readonly knownHostsFiles = new Map<string, Promise<KnownHostLine[]>>();
  /** The last write to each known_hosts file: writes to one file are serialised. */
  readonly knownHostsWrites = new Map<string, Promise<void>>();
  readonly identityFiles = new Map<string, Promise<IdentityBytes>>();
  /** The parsed key of each identity file, or why it is not offered. */
  readonly identityKeys = new Map<string, Promise<ParsedKey | string>>();

  /**
   * Forget everything, decrypted keys included. Each known_hosts write is awaited by the host
   * key check that made it, before its connection goes on: none is pending once the batch ends.
   */
  close(): void {
    this.knownHostsFiles.clear();
    this.knownHostsWrites.clear();
    this.identityFiles.clear();
    this.identityKeys.clear();
  }
}
