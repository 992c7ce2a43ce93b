/**
 * Unknown host keys, asked about once before a terminal run starts: every proxy's key is read
 * up front, the unknown ones are listed with their fingerprints for one answer, and a changed
 * key is shown as what it is. The wizard and the subcommands share this step.
 */
import { printable } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";
import { appendKnownHost, loadKnownHosts } from "../ssh/known-hosts-file.js";
import { knownHostsLine } from "../ssh/known-hosts.js";
import { scanHostKey, type ScannedKey } from "../ssh/scan-host-key.js";
import type { prompts } from "./prompts.js";
import type { Terminal } from "./terminal.js";

/** How the step shows that it is reading keys (the wizard's spinner, or nothing). */
export type During = <T>(text: string, work: () => Promise<T>) => Promise<T>;

/**
 * Read every directly reachable proxy's host key; when some are unknown, list them and ask once.
 * Trusted keys are appended to `knownHostsFile`. Returns the proxies whose keys are trusted (the
 * wizard leaves the others out; a subcommand runs them, and they fail HOSTKEY_UNKNOWN).
 */
export async function confirmHostKeys(
  proxies: Proxy[],
  knownHostsFile: string,
  ask: typeof prompts,
  terminal: Terminal,
  during: During = (_text, work) => work(),
): Promise<{ proxies: Proxy[]; trusted: number }> {
  const knownHosts = await loadKnownHosts(knownHostsFile);
  // Proxies behind jump hosts are checked when the batch reaches them.
  const direct = proxies.filter((p) => !p.jump || p.jump.length === 0);
  const scanned = await during(
    `Reading the host keys of ${direct.length} prox${direct.length === 1 ? "y" : "ies"}`,
    () => Promise.all(direct.map((p) => scanHostKey(p, knownHosts).catch(() => undefined))),
  );
  const unknown = scanned.filter((s): s is ScannedKey => s?.verdict === "unknown");
  const refused = scanned.filter(
    (s): s is ScannedKey => s?.verdict === "changed" || s?.verdict === "revoked",
  );
  for (const s of refused) {
    terminal.err(
      `! ${printable(s.proxy.name)}: its host key ${s.keyType} ${s.fingerprint} is NOT the one in known_hosts; it will be refused\n`,
    );
  }
  if (unknown.length === 0) return { proxies, trusted: 0 };
  terminal.err(`\nThese proxies are not in ${printable(knownHostsFile)}:\n`);
  for (const s of unknown)
    terminal.err(`  ${printable(s.proxy.name).padEnd(20)} ${s.keyType.padEnd(20)} ${s.fingerprint}\n`);
  const trust = await ask.confirm(
    `Check these fingerprints out of band. Trust all ${unknown.length} and remember them?`,
    false,
  );
  if (trust) {
    for (const s of unknown)
      await appendKnownHost(knownHostsFile, knownHostsLine(s.proxy.host, s.proxy.port, s.key, false));
    return { proxies, trusted: unknown.length };
  }
  return { proxies: proxies.filter((p) => !unknown.some((u) => u.proxy.name === p.name)), trusted: 0 };
}
