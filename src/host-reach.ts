/**
 * How a host is reached over SSH, the one vocabulary of the inventory (a `Proxy` has these
 * fields) and of the SSH layer (its `SshTarget` is this with jump hosts of its own type), which
 * depends on no inventory format.
 */
export interface SshReach {
  /** For messages: the inventory name, or `host:port` for --proxy. */
  name: string;
  host: string;
  port: number;
  user: string;
  /** A private key file for this host (inventory `identity` / `ansible_ssh_private_key_file`), tried before --identity. */
  identity?: string | undefined;
  /** From the ssh configuration: keys to try (IdentityFile), and whether only those. */
  identityFiles?: string[] | undefined;
  identitiesOnly?: boolean | undefined;
  /** From the ssh configuration: the agent socket, or null for `IdentityAgent none`. */
  agent?: string | null | undefined;
  /** From the ssh configuration: UserKnownHostsFile (read all, record in the first). */
  knownHostsFiles?: string[] | undefined;
  /** From the ssh configuration: StrictHostKeyChecking accept-new. */
  acceptNewHostKey?: boolean | undefined;
  connectTimeoutMs?: number | undefined;
  keepaliveIntervalMs?: number | undefined;
}
