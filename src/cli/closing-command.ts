/**
 * The command line that repeats a wizard run without questions, derived from the very inputs
 * the run was given (`SideloadInputs`), so that the two cannot differ; never a secret (the
 * passwords come from the environment or from where they already live).
 */
import { printable } from "../errors.js";
import type { RegistryPreflight } from "../registry/preflight.js";
import { runDefaults, type SideloadInputs } from "../resolve/inputs.js";
import type { ProxyResult } from "../sideload/types.js";

/** The flags that give `inputs`, in the order --help lists them: `install`'s when it installs. */
export function argvOfInputs(inputs: SideloadInputs): string[] {
  const args = [inputs.install ? "install" : inputs.mode, ...inputs.paks];
  if (inputs.defaultRegistry !== undefined) args.push("--default-registry", inputs.defaultRegistry);
  const ops = inputs.targets.ops;
  if (ops !== undefined) args.push("--ops", ops.connection.url, "--ops-user", ops.connection.user);
  for (const g of ops?.collectorGroups ?? []) args.push("--collector-group", g);
  if (ops?.all) args.push("--ops-all");
  if (ops?.caFile !== undefined) args.push("--ops-ca", ops.caFile);
  for (const i of inputs.targets.inventories) args.push("--inventory", i);
  for (const p of inputs.targets.proxies) args.push("--proxy", p);
  for (const l of inputs.targets.limit) args.push("--limit", l);
  if (inputs.ssh.knownHostsFile !== undefined) args.push("--known-hosts", inputs.ssh.knownHostsFile);
  // `--relay` alone means every proxy: the paks come first and `--yes` follows, so no word after
  // it can be taken for its value.
  if (inputs.relay !== undefined) args.push(...(inputs.relay === "auto" ? ["--relay", "auto"] : ["--relay"]));
  if (inputs.install?.force) args.push("--force");
  const installSeconds = inputs.install && inputs.install.timeoutMs / 1000;
  if (installSeconds !== undefined && installSeconds !== runDefaults.installTimeoutSeconds)
    args.push("--install-timeout", String(installSeconds));
  args.push("--yes");
  return args;
}

/** The lines that tell how to repeat the run: the credentials' environment, then the command. */
export function equivalentCommand(inputs: SideloadInputs, registries: RegistryPreflight[]): string[] {
  const lines = ["To repeat this without questions (in a script or a pipeline):"];
  for (const r of registries) {
    if (r.credentialSource === "prompt" || r.credentialSource === "environment") {
      lines.push(
        `  export MP_SIDELOAD_REGISTRY_USER=${shellQuote(r.auth?.username ?? "USER")}   # and MP_SIDELOAD_REGISTRY_PASSWORD, from your secret store`,
      );
    } else if (r.credentialSource !== "anonymous") {
      lines.push(`  # credentials for ${r.registry} come from ${r.credentialSource}, as in this run`);
    }
  }
  if (inputs.targets.ops !== undefined)
    lines.push("  export MP_SIDELOAD_OPS_PASSWORD=…   # the VCF Operations password, from your secret store");
  lines.push(`  mp-sideload ${argvOfInputs(inputs).map(shellQuote).join(" ")}`);
  return [...new Set(lines)];
}

/**
 * After the relay question was answered no: the proxies whose engine could not reach a registry
 * that this machine reached (REGISTRY_UNREACHABLE on a reference the registry check passed), and
 * the two ways to carry the image to them. The report's hint says `pull --relay`; a wizard user
 * was asked instead, so this says what to answer, and what to add to the command just printed
 * (which repeats the run as it was, without the relay). Nothing when no such proxy failed.
 */
export function relayAdvice(rows: ProxyResult[], registries: RegistryPreflight[]): string[] {
  const reached = new Map<string, string>();
  for (const r of registries)
    for (const v of r.verdicts) if (v.status !== "failed") reached.set(v.reference, r.registry);
  const stranded = new Map<string, Set<string>>();
  for (const row of rows) {
    const registry = reached.get(row.reference);
    if (row.status !== "failed" || row.error?.code !== "REGISTRY_UNREACHABLE" || registry === undefined)
      continue;
    stranded.set(registry, (stranded.get(registry) ?? new Set()).add(printable(row.name)));
  }
  return [...stranded].map(([registry, names]) => {
    const listed = [...names];
    const shown =
      listed.length > 3
        ? `${listed.slice(0, 3).join(", ")} and ${listed.length - 3} more`
        : listed.join(", ");
    return `${shown} could not reach ${printable(registry)}, which this machine reaches: answer yes to the relay question next time, or add --relay auto to the command above, to carry the image through this machine's SSH connection.`;
  });
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
