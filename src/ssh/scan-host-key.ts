/**
 * Read a proxy's host key without authenticating (like `ssh-keyscan`): the key exchange runs
 * until the key is presented, then the connection is dropped. Nothing is sent but the
 * handshake; used to ask about every unknown key at once before a batch starts.
 */
import type { SshTarget } from "./types.js";
import ssh2 from "ssh2";
import { SideloadError, hostPort, printable } from "../errors.js";
import {
  fingerprint,
  judgeHostKey,
  keyTypeOf,
  type HostKeyVerdict,
  type KnownHostLine,
} from "./known-hosts.js";

export interface ScannedKey {
  proxy: SshTarget;
  key: Buffer;
  keyType: string;
  fingerprint: string;
  verdict: HostKeyVerdict["verdict"];
}

/** The key `proxy` presents, judged against `knownHosts`. */
export function scanHostKey(
  proxy: SshTarget,
  knownHosts: KnownHostLine[],
  timeoutMs = 10_000,
): Promise<ScannedKey> {
  const where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let found: Buffer | undefined;
    const done = () => {
      client.destroy();
      if (!found) {
        return reject(new SideloadError("SSH_UNREACHABLE", `${where}: no host key could be read`));
      }
      resolve({
        proxy,
        key: found,
        keyType: keyTypeOf(found),
        fingerprint: fingerprint(found),
        verdict: judgeHostKey(knownHosts, proxy.host, proxy.port, found).verdict,
      });
    };
    client.on("error", done); // on, not once: a second error event must not crash the run
    client.once("close", done);
    client.connect({
      host: proxy.host,
      port: proxy.port,
      username: proxy.user,
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        found = key;
        return false; // stop here: nothing beyond the key exchange
      },
    });
  });
}
