/**
 * `pull` and `verify`: the same options, the same pipeline; verify stops after "present?".
 */
import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { ExitStatus, SideloadError, quote } from "../../errors.js";
import { readEarlierReport } from "../../report/earlier-report.js";
import { registerSecret } from "../../credentials/redact.js";
import { loadInventory, selectProxies } from "../../inventory/load-inventory.js";
import { parseProxyArg, type Proxy } from "../../inventory/proxy.js";
import { fatalCodes, preflightRegistries, type RegistryPreflight } from "../../registry/preflight.js";
import { defaultIdentities, loadKnownHosts } from "../../ssh/connect.js";
import { runBatch } from "../../sideload/run-batch.js";
import { planSideload } from "../../sideload/plan.js";
import type { BatchReport, SideloadJob, Target } from "../../sideload/types.js";
import { intOption, onePositional, parseCommandArgs } from "../args.js";
import { renderPlan, renderReportHuman, renderReportJson, createLiveRenderer } from "../render/batch.js";
import { credentialOptionSpecs, credentialOptionsHelp, credentialResolver } from "../credential-options.js";
import { readPakInput } from "../pak-input.js";
import { readCaOption } from "../registry-ca.js";
import { interruptedStatus, type Terminal } from "../terminal.js";

const options = {
  inventory: { type: "string" },
  proxy: { type: "string", multiple: true },
  limit: { type: "string", multiple: true },
  "known-hosts": { type: "string" },
  "accept-new-host-keys": { type: "boolean" },
  identity: { type: "string", multiple: true },
  "ssh-user": { type: "string" },
  "default-registry": { type: "string" },
  ...credentialOptionSpecs,
  "registry-ca": { type: "string" },
  "no-registry-check": { type: "boolean" },
  concurrency: { type: "string" },
  timeout: { type: "string" },
  retries: { type: "string" },
  json: { type: "boolean" },
  report: { type: "string" },
  "only-failed": { type: "string" },
  yes: { type: "boolean", short: "y" },
  "dry-run": { type: "boolean" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function help(mode: "pull" | "verify"): string {
  const what =
    mode === "pull"
      ? "Pull each adapter image of a pak onto cloud proxies, by its exact digest, over SSH."
      : "Check that every cloud proxy holds each adapter image of a pak, by its exact digest. Changes nothing.";
  return `Usage: mp-sideload ${mode} <pak> (--proxy [user@]host[:port] ... | --inventory FILE) [options]

${what}

Targets:
  --inventory FILE            native YAML, or an Ansible INI/YAML inventory
  --proxy [user@]host[:port]  a proxy (repeatable)
  --limit PATTERN             only proxies whose name, host or group matches (repeatable, * and ?)
  --known-hosts FILE          default ~/.ssh/known_hosts
  --accept-new-host-keys      record unknown host keys (never changed ones)
  --identity FILE             private key (repeatable); ssh-agent is used when SSH_AUTH_SOCK is set
  --ssh-user USER             default root
  --default-registry HOST     the proxies' default registry, for a pak that names none
${
  mode === "pull"
    ? `${credentialOptionsHelp}  --registry-ca FILE          install this CA on each proxy as /etc/docker/certs.d/<REGISTRY>/ca.crt
  --no-registry-check         do not check the registry from this machine before the proxies
`
    : ""
}Run:
  --concurrency N             proxies at once (default 8)
  --timeout SECONDS           per proxy (default 900)
  --retries N                 re-issues of a pull whose connection dropped (default 3)
  --json                      one JSON document on stdout
  --report FILE               also write the JSON document to FILE
  --only-failed REPORT        only the proxies that failed in an earlier --report
  --yes, -y                   do not ask for confirmation
  --dry-run                   print the plan; connect to nothing
  --debug                     every event and stack traces on stderr
SSH password: MP_SIDELOAD_SSH_PASSWORD, or asked in a terminal.
Exit status: 0 every proxy ok, 1 a proxy failed${mode === "verify" ? " or lacks an image" : ""}, 2 usage or input error,
130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the report is still written).
`;
}

export async function runSideloadCommand(
  mode: "pull" | "verify",
  argv: string[],
  terminal: Terminal,
): Promise<number> {
  const { values, positionals } = parseCommandArgs(mode, argv, options);
  if (values.help) {
    terminal.out(help(mode));
    return ExitStatus.ok;
  }
  const pakFile = onePositional(mode, positionals, "pak file");
  const concurrency = intOption("concurrency", values.concurrency, 8, 1, 256);
  const timeoutS = intOption("timeout", values.timeout, 900, 1, 86_400);
  const retries = intOption("retries", values.retries, 3, 0, 20);
  const sshUser = values["ssh-user"] ?? "root";

  // Read and check every input before anything connects anywhere.
  const { targets } = await readPakInput(pakFile, values["default-registry"]);
  const proxies = await selectTargets(
    values,
    sshUser,
    targets.map((t) => t.reference),
  );
  const knownHostsFile = values["known-hosts"] ?? join(homedir(), ".ssh", "known_hosts");
  const registryCa =
    mode === "pull" && values["registry-ca"] !== undefined
      ? await readCaOption(values["registry-ca"])
      : undefined;

  const job: SideloadJob = { mode, targets, retries, timeoutMs: timeoutS * 1000, registryCa };

  if (values["dry-run"]) {
    const plan = planSideload(proxies, job, knownHostsFile);
    terminal.out(
      values.json
        ? `${JSON.stringify({ command: mode, dryRun: true, references: targets.map((t) => t.reference), plan: plan.map((p) => ({ name: p.proxy.name, host: p.proxy.host, port: p.proxy.port, user: p.proxy.user, steps: p.steps })) }, null, 2)}\n`
        : renderPlan(mode, plan),
    );
    return ExitStatus.ok;
  }

  const ask = terminal.interactive ? (await import("../prompts.js")).prompts : undefined;
  let registries: RegistryPreflight[] = [];
  if (mode === "pull") {
    registries = await settleRegistries(targets, values, terminal, registryCa);
    const byRegistry = new Map(registries.map((r) => [r.registry, r]));
    job.auth = (registry) => byRegistry.get(registry)?.auth;
    job.refreshAuth = memoBy(async (registry: string) => {
      const entry = byRegistry.get(registry);
      if (entry?.refresh === undefined) return undefined;
      entry.auth = await entry.refresh();
      return entry.auth;
    });
    if (ask && !values.yes) {
      const go = await ask.confirmRun(
        `Pull ${targets.length === 1 ? targets[0]?.reference : `${targets.length} images`} onto ${proxies.length} prox${proxies.length === 1 ? "y" : "ies"}?`,
      );
      if (!go) {
        terminal.err("nothing done\n");
        return ExitStatus.ok;
      }
    }
  }

  const sshPasswordEnv = terminal.env.MP_SIDELOAD_SSH_PASSWORD || undefined;
  registerSecret(sshPasswordEnv);
  const knownHosts = await loadKnownHosts(knownHostsFile);
  const live = createLiveRenderer(terminal, { debug: values.debug ?? false, json: values.json ?? false });
  const report: BatchReport = await runBatch(proxies, job, {
    concurrency,
    knownHosts,
    signal: terminal.signal,
    onEvent: live,
    connect: {
      hostKeys: {
        knownHostsFile,
        acceptNew: values["accept-new-host-keys"] ?? false,
        confirm: ask && ((proxy, fp, type) => ask.trustHostKey(proxy.name, type, fp)),
      },
      auth: {
        agent: terminal.env.SSH_AUTH_SOCK || undefined,
        identities: [...(values.identity ?? []), ...defaultIdentities()],
        // Asked once per run (and once per key file), however many proxies want it.
        password:
          sshPasswordEnv !== undefined
            ? () => Promise.resolve(sshPasswordEnv)
            : ask &&
              memo(async () => {
                const pw = await ask.sshPassword(`${sshUser}@proxies`);
                registerSecret(pw);
                return pw;
              }),
        passphrase: ask && memoBy((file: string) => ask.keyPassphrase(file)),
      },
    },
  });

  report.registries = registries.map((r) => ({
    registry: r.registry,
    credentialSource: r.credentialSource,
    ...(r.verdicts.length === 0
      ? {}
      : { check: r.verdicts.every((v) => v.status !== "failed") ? r.verdicts[0]?.status : "unknown" }),
  }));
  const document = renderReportJson(report);
  if (values.report !== undefined) await writeFile(values.report, document, { mode: 0o644 });
  terminal.out(values.json ? document : renderReportHuman(report));
  const interrupted = interruptedStatus(terminal.signal);
  if (interrupted !== undefined) return interrupted;
  return report.summary.failed === 0 ? ExitStatus.ok : ExitStatus.proxyFailed;
}

/** The first call's promise, shared by every later call. */
function memo<T>(get: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= get());
}

/** `memo` per key. */
function memoBy<T>(get: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const values = new Map<string, Promise<T>>();
  return (key) => {
    const value = values.get(key) ?? get(key);
    values.set(key, value);
    return value;
  };
}

type Values = {
  [K in keyof typeof options]?: (typeof options)[K] extends { multiple: true }
    ? string[]
    : (typeof options)[K] extends { type: "boolean" }
      ? boolean
      : string;
};

async function selectTargets(values: Values, sshUser: string, references: string[]): Promise<Proxy[]> {
  // Checked before the inventory: a report for another pak is refused whatever else is given.
  const unfinished =
    values["only-failed"] === undefined
      ? undefined
      : await readEarlierReport(values["only-failed"], references);
  let proxies: Proxy[] = values.inventory === undefined ? [] : await loadInventory(values.inventory, sshUser);
  // concat, not push(...): a spread of a large array overflows the call stack.
  proxies = proxies.concat((values.proxy ?? []).map((p) => parseProxyArg(p, sshUser)));
  if (unfinished !== undefined) {
    const names = new Set(unfinished.map((f) => f.name));
    proxies =
      proxies.length === 0
        ? unfinished.map((f) => ({ ...f, user: sshUser, groups: [] }))
        : proxies.filter((p) => names.has(p.name));
  }
  if (proxies.length === 0 && unfinished === undefined) {
    throw new SideloadError("NO_PROXIES", "no proxies given", {
      hint: "pass --proxy HOST (repeatable) or --inventory FILE",
    });
  }
  const selected = selectProxies(proxies, values.limit ?? []);
  if (selected.length === 0 && unfinished === undefined) {
    throw new SideloadError(
      "NO_PROXIES",
      `no proxy matches --limit ${quote((values.limit ?? []).join(","))}`,
      {
        hint: "--limit takes a group or proxy name, with * and ? wildcards",
      },
    );
  }
  return selected;
}

/**
 * Before any proxy: check each registry from this machine and settle its credentials. A verdict
 * that every proxy would meet (refused credentials, no such manifest, no linux/amd64) stops the
 * run here, once, with exit 2; a registry this machine cannot reach or trust is a warning, since
 * the proxies often sit in another network and their own login is the authority.
 */
async function settleRegistries(
  targets: Target[],
  values: Values,
  terminal: Terminal,
  registryCa: string | undefined,
): Promise<RegistryPreflight[]> {
  const resolver = await credentialResolver(values, terminal);
  const preflight = await preflightRegistries(targets, resolver, {
    ca: registryCa,
    env: terminal.env,
    signal: terminal.signal,
    prompt: terminal.interactive,
    skipCheck: values["no-registry-check"] ?? false,
  });
  for (const entry of preflight) {
    if (values.debug) terminal.err(`debug: ${entry.registry}: credentials from ${entry.credentialSource}\n`);
    for (const verdict of entry.verdicts) {
      const error = verdict.error;
      if (error === undefined) continue;
      if (
        fatalCodes.includes(error.code) &&
        !(error.code === "REGISTRY_UNAUTHORIZED" && entry.credentialSource === "none")
      ) {
        throw new SideloadError(error.code, `checked from this machine before any proxy: ${error.message}`, {
          hint: error.hint,
          exitStatus: ExitStatus.usage,
        });
      }
      if (entry.credentialSource !== "none") {
        terminal.err(
          `mp-sideload: warning: ${error.code}: ${error.message}; going on: the proxies' own login decides\n`,
        );
      }
    }
    if (entry.credentialSource === "none") {
      // Not public and no source has credentials: ask the resolver once more so that its
      // CREDENTIALS_MISSING (with the options that would supply them) is the error.
      const resolved = await resolver.resolve(
        entry.registry,
        targets.find((t) => t.registry === entry.registry)?.reference ?? "",
      );
      Object.assign(entry, {
        credentialSource: resolved.source,
        auth: resolved.auth,
        refresh: resolved.refresh,
      });
    }
  }
  return preflight;
}
