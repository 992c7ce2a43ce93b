/**
 * The last arrow of the pipeline: from images on the proxies to the pack installed. The `pull`
 * pipeline runs as it is; coverage then gates the install (a collector group where a member
 * lacks an image would start an instance there without it); only then is each pak uploaded to
 * VCF Operations through CaSA, installed and polled to its end, and the pack's adapter kinds
 * confirmed through the Suite API. Progress is data (InstallEvent); nothing here prints.
 */
import { SideloadError, quote, toErrorInfo, type ErrorInfo } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";
import { CasaClient, waitForInstall, waitUntilIdle, type CasaWait } from "../ops/casa.js";
import type { OpsAdapterInstance } from "../ops/answers.js";
import type { OpsGroup } from "../ops/resolve.js";
import { SuiteApiClient, type OpsConnection } from "../ops/suite-api.js";
import type { Pak } from "../pak/read-pak.js";
import type { RegistryGate } from "../gate/registry-gate.js";
import type { BatchOptions } from "../sideload/run-batch.js";
import { runSideload, type SideloadResult } from "../sideload/run-sideload.js";
import type { SideloadJob } from "../sideload/types.js";

/** What to install, where, and how. */
export interface InstallJob {
  paks: Pak[];
  connection: OpsConnection;
  /** `--force`: CLOBBER an earlier upload, then force_content_update. */
  force: boolean;
  /** `--install-timeout`: the bound on the wait for a busy cluster, the upload and the install. */
  timeoutMs: number;
  /** Between status polls; default 2 s. */
  pollMs?: number | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: ((event: InstallEvent) => void) | undefined;
}

/** Progress of the install, for the live board, --debug and tests. */
export type InstallEvent =
  | { type: "install-busy"; pak: string; busyWith: string; elapsedMs: number }
  | { type: "install-uploading"; pak: string; elapsedMs: number }
  | { type: "install-state"; pak: string; pakId: string; state: string; elapsedMs: number }
  | { type: "install-finished"; pak: string; install: PakInstall };

/** One pak's install, as reported. */
export interface PakInstall {
  file: string;
  name: string;
  version: string;
  /** CaSA's id of the upload (absent when the upload was refused). */
  pakId?: string | undefined;
  /** The states seen, in order (`CANDIDATE`, …, `COMPLETED`). */
  states: string[];
  outcome: "completed" | "failed" | "not-started";
  durationMs: number;
  /** The server's words about a failed end state. */
  words?: string | undefined;
  error?: ErrorInfo | undefined;
}

/** The gate's verdict: every group involved ready, and no proxy failed. */
export interface InstallGate {
  ready: boolean;
  /** The groups not ready: their members lacking an image or not checked. */
  notReady: { group: string; lacking: string[]; unchecked: string[] }[];
  /** Proxies whose row failed (in no group, or besides the groups'). */
  failed: string[];
}

/** What the Suite API says after the install. */
export interface InstalledKinds {
  known: string[];
  missing: string[];
  /** Instances of the pak's kinds: where the running check looks. */
  instances: OpsAdapterInstance[];
}

/** The whole run. */
export interface InstallResult {
  sideload: SideloadResult;
  gate: InstallGate;
  installs: PakInstall[];
  kinds?: InstalledKinds | undefined;
  outcome: "installed" | "not-ready" | "failed";
}

/** The verdict of the coverage on a sideload result: install only when it is ready. */
export function installGateOf(result: SideloadResult): InstallGate {
  const groups = result.coverage?.groups ?? [];
  const notReady = groups
    .filter((g) => !g.ready)
    .map((g) => ({ group: g.group, lacking: g.lacking, unchecked: g.unchecked }));
  const failed = [
    ...new Set(
      result.report.proxies.filter((p) => p.status !== "present" && p.status !== "pulled").map((p) => p.name),
    ),
  ];
  return { ready: notReady.length === 0 && failed.length === 0, notReady, failed };
}

/**
 * Before anything else: that the account may install (CaSA answers current_activity only to an
 * admin). CASA_FORBIDDEN otherwise, before any proxy is contacted and before any upload.
 */
export async function checkInstallAccess(connection: OpsConnection): Promise<void> {
  const client = new CasaClient(connection);
  try {
    await client.currentActivity();
  } finally {
    client.close();
  }
}

/**
 * Run `pull` on the proxies, gate on coverage, then install every pak in turn (one CaSA activity
 * at a time), stopping at the first that does not complete; after all completed, confirm the
 * kinds. Errors before the first upload (CASA_FORBIDDEN, OPS_*) are thrown; an install's own
 * failure is its PakInstall.
 */
export async function runInstall(
  proxies: Proxy[],
  job: SideloadJob,
  gate: RegistryGate | undefined,
  batch: BatchOptions,
  groups: OpsGroup[],
  install: InstallJob,
): Promise<InstallResult> {
  const sideload = await runSideload(proxies, job, gate, batch, groups);
  const verdict = installGateOf(sideload);
  if (!verdict.ready || install.signal?.aborted)
    return { sideload, gate: verdict, installs: [], outcome: "not-ready" };
  const installs = await installPaks(install);
  if (installs.some((i) => i.outcome !== "completed"))
    return { sideload, gate: verdict, installs, outcome: "failed" };
  const kinds = await installedKinds(
    install.connection,
    install.paks.flatMap((p) => p.adapters.map((a) => a.kind)),
  );
  return {
    sideload,
    gate: verdict,
    installs,
    kinds,
    outcome: kinds.missing.length === 0 ? "installed" : "failed",
  };
}

/** Each pak uploaded, installed and polled to its end, in turn; the rest not started after a failure. */
export async function installPaks(install: InstallJob): Promise<PakInstall[]> {
  const client = new CasaClient(install.connection);
  const deadline = AbortSignal.timeout(install.timeoutMs);
  const wait: CasaWait = { deadline, intervalMs: install.pollMs, signal: install.signal };
  const results: PakInstall[] = [];
  try {
    for (const pak of install.paks) {
      const stopped = results.some((r) => r.outcome !== "completed");
      const result = stopped ? notStarted(pak) : await installOne(client, pak, install, wait);
      results.push(result);
      install.onEvent?.({ type: "install-finished", pak: pak.file, install: result });
    }
  } finally {
    client.close();
  }
  return results;
}

async function installOne(
  client: CasaClient,
  pak: Pak,
  install: InstallJob,
  wait: CasaWait,
): Promise<PakInstall> {
  const started = Date.now();
  const elapsedMs = () => Date.now() - started;
  const emit = install.onEvent ?? (() => undefined);
  const result: PakInstall = {
    file: pak.file,
    name: pak.name,
    version: pak.version,
    states: [],
    outcome: "failed",
    durationMs: 0,
  };
  try {
    await waitUntilIdle(client, wait, (activity) =>
      emit({ type: "install-busy", pak: pak.file, busyWith: activity.pakId ?? "?", elapsedMs: elapsedMs() }),
    );
    emit({ type: "install-uploading", pak: pak.file, elapsedMs: elapsedMs() });
    const { pakId } = await client.upload(pak.file, install.force, wait.deadline);
    result.pakId = pakId;
    await client.install(pakId, install.force);
    const end = await waitForInstall(client, pakId, wait, (status) => {
      result.states.push(status.state);
      emit({ type: "install-state", pak: pak.file, pakId, state: status.state, elapsedMs: elapsedMs() });
    });
    if (end.state === "COMPLETED") result.outcome = "completed";
    else {
      result.words = end.words;
      result.error = toErrorInfo(
        new SideloadError(
          "INSTALL_FAILED",
          `${client.where()}: the install of ${quote(pakId)} ended ${end.state}${end.words ? `: ${end.words}` : ""}`,
          {
            hint: "the words are VCF Operations' own: see Integrations > Repository and its logs, fix the pak, run again (with --force for the same version)",
          },
        ),
      );
    }
  } catch (error) {
    if (error instanceof SideloadError && error.code === "INTERRUPTED") throw error;
    result.error = toErrorInfo(error);
  }
  result.durationMs = elapsedMs();
  return result;
}

function notStarted(pak: Pak): PakInstall {
  return {
    file: pak.file,
    name: pak.name,
    version: pak.version,
    states: [],
    outcome: "not-started",
    durationMs: 0,
    error: { code: "INSTALL_FAILED", message: "not started: an earlier pak's install did not complete" },
  };
}

/** The pak's adapter kinds as the Suite API knows them after the install, and their instances. */
export async function installedKinds(connection: OpsConnection, kinds: string[]): Promise<InstalledKinds> {
  const client = await SuiteApiClient.open(connection);
  try {
    const known = new Set(await client.adapterKinds());
    const wanted = [...new Set(kinds)];
    let instances: OpsAdapterInstance[] = [];
    for (const kind of wanted) instances = instances.concat(await client.adapterInstances(kind));
    return {
      known: wanted.filter((k) => known.has(k)),
      missing: wanted.filter((k) => !known.has(k)),
      instances,
    };
  } finally {
    await client.close();
  }
}
