/**
 * The host key check of a connection: judged against known_hosts during key exchange, before
 * any credential is sent. A revoked or changed key is refused outright; an unknown one is
 * accepted only with accept-new or the user's yes, and then recorded.
 */
import { SideloadError } from "../errors.js";
import type { SshRunState } from "./run-state.js";
import type { HostKeyPolicy, SshTarget } from "./types.js";
import { appendKnownHost } from "./known-hosts-file.js";
import {
  fingerprint,
  judgeHostKey,
  keyTypeOf,
  knownHostsLine,
  parseKnownHosts,
  type KnownHostLine,
} from "./known-hosts.js";

/**
 * ssh2's `hostVerifier` for `proxy`; `refuse` receives the error that explains a refusal (the
 * connection's own error would only say the handshake failed).
 */
export function hostKeyVerifier(
  proxy: SshTarget,
  knownHosts: KnownHostLine[],
  policy: HostKeyPolicy,
  where: string,
  refuse: (error: SideloadError) => void,
  run: SshRunState,
): (key: Buffer, verify: (ok: boolean) => void) => void {
  return (key: Buffer, verify: (ok: boolean) => void): void => {
    const judged = judgeHostKey(knownHosts, proxy.host, proxy.port, key);
    const fp = fingerprint(key);
    const type = keyTypeOf(key);
    if (judged.verdict === "known") return verify(true);
    if (judged.verdict === "revoked") {
      refuse(
        new SideloadError("HOSTKEY_REVOKED", `${where} presented a revoked host key (${type} ${fp})`, {
          hint: `${policy.knownHostsFile} line ${judged.line} marks this key @revoked; do not connect until the proxy's keys are replaced`,
        }),
      );
      return verify(false);
    }
    if (judged.verdict === "changed") {
      refuse(
        new SideloadError(
          "HOSTKEY_MISMATCH",
          `${where} presented host key ${type} ${fp}, which is NOT the one in known_hosts: possible man-in-the-middle; nothing was sent`,
          {
            hint: `if the proxy was really re-installed, remove its old key (ssh-keygen -R '${proxy.port === 22 ? proxy.host : `[${proxy.host}]:${proxy.port}`}' -f ${policy.knownHostsFile}, line ${judged.line}) after checking the new fingerprint out of band`,
          },
        ),
      );
      return verify(false);
    }
    const decide = async (): Promise<boolean> => {
      if (policy.acceptNew) return true;
      if (policy.confirm) return policy.confirm(proxy, fp, type);
      return false;
    };
    decide()
      .then(async (accepted) => {
        if (!accepted) {
          refuse(
            new SideloadError(
              "HOSTKEY_UNKNOWN",
              `${where} is not in ${policy.knownHostsFile} (it presented ${type} ${fp}); nothing was sent`,
              {
                hint: "check the fingerprint out of band, then add it (ssh-keyscan, or one interactive ssh) or pass --accept-new-host-keys",
              },
            ),
          );
          return verify(false);
        }
        await recordHostKey(policy, knownHosts, proxy, key, run);
        verify(true);
      })
      .catch((error: unknown) => {
        refuse(
          new SideloadError(
            "FILE_UNREADABLE",
            `cannot record the host key of ${where}: ${(error as Error).message}`,
            {
              hint: `check that ${policy.knownHostsFile} is writable`,
            },
          ),
        );
        verify(false);
      });
  };
}

/** Serialises the run's writes to known_hosts and keeps the in-memory copy in step. */
async function recordHostKey(
  policy: HostKeyPolicy,
  lines: KnownHostLine[],
  proxy: SshTarget,
  key: Buffer,
  run: SshRunState,
): Promise<void> {
  const previous = run.knownHostsWrites.get(policy.knownHostsFile) ?? Promise.resolve();
  const next = previous.then(async () => {
    const text = knownHostsLine(proxy.host, proxy.port, key, false);
    await appendKnownHost(policy.knownHostsFile, text);
    for (const line of parseKnownHosts(text)) lines.push(line);
  });
  run.knownHostsWrites.set(
    policy.knownHostsFile,
    next.catch(() => undefined),
  );
  return next;
}
