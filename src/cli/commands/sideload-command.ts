/**
 * `pull` and `verify`: the same options, the same pipeline; verify stops after "present?".
 */
import { writeFile } from "node:fs/promises";
import { ExitStatus, SideloadError } from "../../errors.js";
import { fatalCodes, preflightRegistries, type RegistryPreflight } from "../../registry/preflight.js";
import { runBatch } from "../../sideload/run-batch.js";
import { planSideload } from "../../sideload/plan.js";
import type { Proxy } from "../../inventory/proxy.js";
import type { BatchReport, SideloadEvent, SideloadJob, AdapterImage } from "../../sideload/types.js";
import { intOption, onePositional, parseCommandArgs } from "../args.js";
import {
  createLiveRenderer,
  renderPlan,
  renderPlanJson,
  renderReportHuman,
  renderReportJson,
} from "../render/batch.js";
import { credentialOptionSpecs, credentialOptionsHelp, credentialResolver } from "../credential-options.js";
import { readPakInput } from "../pak-input.js";
import { readCaOption } from "../registry-ca.js";
import { interruptedStatus, type Terminal } from "../terminal.js";
import {
  knownHostsFileOf,
  memoBy,
  resolveProxies,
  sshConnectSetup,
  targetOptionSpecs,
  targetOptionsHelp,
} from "../targets.js";

export const sideloadOptions = {
  ...targetOptionSpecs,
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

${targetOptionsHelp}  --default-registry HOST     the proxies' default registry, for a pak that names none
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
  const { values, positionals } = parseCommandArgs(mode, argv, sideloadOptions);
  if (values.help) {
    terminal.out(help(mode));
    return ExitStatus.ok;
  }
  const pakFile = onePositional(mode, positionals, "pak file");
  return (await runSideload(mode, pakFile, values, terminal)).status;
}

/** What the wizard settles itself before handing over to the same pipeline as the flags. */
export interface SideloadOverrides {
  /** The proxies already selected and resolved (inventory, --limit, ssh config), not read again. */
  proxies?: Proxy[];
  /** Registries already checked and their credentials settled (with a spinner, in the wizard). */
  registries?: RegistryPreflight[];
  /** Progress renderer (the wizard's live board). */
  onEvent?: (event: SideloadEvent) => void;
  /** Called once the batch is over, before the report is printed (the board clears itself). */
  beforeOutput?: () => void;
}

/**
 * The pipeline of `pull` and `verify`, from the answers the flags (or the wizard) gave: read and
 * check every input, settle the registries, run the batch, render. Returns the exit status and
 * the report.
 */
export async function runSideload(
  mode: "pull" | "verify",
  pakFile: string,
  values: SideloadValues,
  terminal: Terminal,
  overrides: SideloadOverrides = {},
): Promise<{ status: number; report?: BatchReport }> {
  const concurrency = intOption("concurrency", values.concurrency, 8, 1, 256);
  const timeoutS = intOption("timeout", values.timeout, 900, 1, 86_400);
  const retries = intOption("retries", values.retries, 3, 0, 20);
  const sshUser = values["ssh-user"] ?? "root";

  // Read and check every input before anything connects anywhere.
  const { images } = await readPakInput(pakFile, values["default-registry"]);
  const proxies =
    overrides.proxies ??
    (await resolveProxies(
      values,
      images.map((t) => t.reference),
      terminal.env,
      values.debug ? (message) => terminal.err(`debug: ${message}\n`) : undefined,
    ));
  const knownHostsFile = knownHostsFileOf(values);
  const registryCa =
    mode === "pull" && values["registry-ca"] !== undefined
      ? await readCaOption(values["registry-ca"])
      : undefined;

  const job: SideloadJob = { mode, images, retries, timeoutMs: timeoutS * 1000, registryCa };

  if (values["dry-run"]) {
    const plan = planSideload(proxies, job, knownHostsFile);
    terminal.out(
      values.json
        ? renderPlanJson(
            mode,
            images.map((t) => t.reference),
            plan,
          )
        : renderPlan(mode, plan),
    );
    return { status: ExitStatus.ok };
  }

  const ask = terminal.interactive ? (await import("../prompts.js")).prompts : undefined;
  let registries: RegistryPreflight[] = [];
  // In a terminal the registries are settled first (they may ask, and the run is confirmed).
  // In a pipeline their check starts once the proxies have started to connect, and runs while
  // they connect and look for the image; the job waits for it (`ready`) before anything that
  // sends credentials or changes a proxy, and a verdict that stops the run ends the batch with
  // nothing changed.
  let settleLater: (() => Promise<void>) | undefined;
  let settling: Promise<void> | undefined;
  const refused = new AbortController();
  if (mode === "pull") {
    let byRegistry = new Map<string, RegistryPreflight>();
    const settle = async () => {
      registries = overrides.registries ?? (await settleRegistries(images, values, terminal, registryCa));
      byRegistry = new Map(registries.map((r) => [r.registry, r]));
    };
    if (ask) await settle();
    else {
      const { promise, resolve, reject } = deferred();
      job.ready = promise;
      settleLater = () => {
        const started = settle();
        started.then(resolve, (error: unknown) => {
          // A refused run must not wait for the proxies' connections: its batch ends at once.
          reject(error);
          refused.abort(error);
        });
        return started;
      };
    }
    job.auth = (registry) => byRegistry.get(registry)?.auth;
    job.refreshAuth = memoBy(async (registry: string) => {
      const entry = byRegistry.get(registry);
      if (entry?.refresh === undefined) return undefined;
      entry.auth = await entry.refresh();
      return entry.auth;
    });
    if (ask && !values.yes) {
      const go = await ask.confirmRun(
        `Pull ${images.length === 1 ? images[0]?.reference : `${images.length} images`} onto ${proxies.length} prox${proxies.length === 1 ? "y" : "ies"}?`,
      );
      if (!go) {
        terminal.err("nothing done\n");
        return { status: ExitStatus.ok };
      }
    }
  }

  let report: BatchReport;
  try {
    const ssh = await sshConnectSetup(values, terminal, sshUser);
    const live =
      overrides.onEvent ??
      createLiveRenderer(terminal, { debug: values.debug ?? false, json: values.json ?? false });
    try {
      const batch = runBatch(proxies, job, {
        concurrency,
        knownHosts: ssh.knownHosts,
        signal: AbortSignal.any([terminal.signal, refused.signal]),
        onEvent: live,
        connect: ssh.connect,
      });
      settling = settleLater?.();
      settling?.catch(() => undefined); // awaited below, after the batch
      report = await batch;
    } finally {
      ssh.close();
    }
  } finally {
    // The registries' verdict comes first: a refused run is an input error, whatever the batch did.
    await settling;
  }

  report.registries = registries.map((r) => ({
    registry: r.registry,
    credentialSource: r.credentialSource,
    ...(r.verdicts.length === 0
      ? {}
      : { check: r.verdicts.every((v) => v.status !== "failed") ? r.verdicts[0]?.status : "unknown" }),
  }));
  overrides.beforeOutput?.();
  const document = renderReportJson(report);
  if (values.report !== undefined) await writeFile(values.report, document, { mode: 0o644 });
  terminal.out(values.json ? document : renderReportHuman(report));
  const interrupted = interruptedStatus(terminal.signal);
  if (interrupted !== undefined) return { status: interrupted, report };
  return { status: report.summary.failed === 0 ? ExitStatus.ok : ExitStatus.proxyFailed, report };
}

/** The answers of a `pull` or `verify` run: what its flags say, or what the wizard gathered. */
export type SideloadValues = Values;

type Values = {
  -readonly [K in keyof typeof sideloadOptions]?: (typeof sideloadOptions)[K] extends { multiple: true }
    ? string[]
    : (typeof sideloadOptions)[K] extends { type: "boolean" }
      ? boolean
      : string;
};

/**
 * Before any proxy: check each registry from this machine and settle its credentials. A verdict
 * that every proxy would meet (refused credentials, no such manifest, no linux/amd64) stops the
 * run here, once, with exit 2; a registry this machine cannot reach or trust is a warning, since
 * the proxies often sit in another network and their own login is the authority.
 */
async function settleRegistries(
  images: AdapterImage[],
  values: Values,
  terminal: Terminal,
  registryCa: string | undefined,
): Promise<RegistryPreflight[]> {
  const resolver = await credentialResolver(values, terminal);
  const preflight = await preflightRegistries(images, resolver, {
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
        throw new SideloadError(
          error.code,
          `checked from this machine before any proxy logged in: ${error.message}`,
          {
            hint: error.hint,
            exitStatus: ExitStatus.usage,
          },
        );
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
        images.find((t) => t.registry === entry.registry)?.reference ?? "",
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

/** A promise and the functions that settle it; its rejection counts as handled until awaited. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve: () => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
