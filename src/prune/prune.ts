/**
 * `prune`: on each proxy, the old images of the paks' repositories removed by the rule of
 * prune-select.ts, through the proxy's engine, without force (the engine deletes an image only
 * when its last name goes). A per-proxy command of the frame (session/proxy-frame.ts), like
 * `pull`; `pull --prune` runs `pruneOnEngine` on the session it already has.
 */
import { printable, toErrorInfo, type ErrorInfo } from "../errors.js";
import type { EngineImages } from "../engine/engine.js";
import type { Proxy } from "../inventory/proxy.js";
import type { AdapterImage } from "../pak/read-paks.js";
import { runProxies, type FrameDeps, type ProxyCommand } from "../session/proxy-frame.js";
import { selectPrunable, type KeptImage, type PruneCandidate } from "./prune-select.js";

/** What a prune run removes, and how. */
export interface PruneJob {
  /** The paks' images: their repositories are pruned, their digests stay. */
  images: AdapterImage[];
  /** Old images kept per repository besides the current ones (`--keep`, default 1). */
  keep: number;
  /** List what would go; remove nothing. */
  dryRun: boolean;
  /** Per-proxy time limit. */
  timeoutMs: number;
  /**
   * Per proxy name, the image IDs the user agreed to remove (after a listing run): nothing else
   * goes, even if it became prunable meanwhile. Absent: whatever the rule selects.
   */
  confirmed?: ReadonlyMap<string, ReadonlySet<string>> | undefined;
}

/** An image prune removed (or, in a dry run, would remove). */
export interface PrunedImage extends PruneCandidate {
  /** The engine deleted the image (its bytes are freed); false: only names went, or a dry run. */
  deleted: boolean;
  /** The names the engine untagged. */
  untagged: string[];
  /** Why the engine did not remove it. */
  error?: ErrorInfo | undefined;
}

/** What prune did on one engine. */
export interface EnginePrune {
  removed: PrunedImage[];
  kept: KeptImage[];
  /** Sizes of the images the engine deleted, as it lists them. */
  bytesFreed: number;
  /** The first image the engine refused to remove, if any. */
  error?: ErrorInfo | undefined;
}

/** One proxy's row of a prune report. */
export interface ProxyPruneResult extends EnginePrune {
  name: string;
  host: string;
  port: number;
  /** `pruned`: something went; `nothing`: nothing to remove; `listed`: a dry run; `failed`; `skipped`. */
  status: "pruned" | "nothing" | "listed" | "failed" | "skipped";
  durationMs: number;
}

export interface PruneReport {
  command: "prune";
  references: string[];
  keep: number;
  dryRun: boolean;
  proxies: ProxyPruneResult[];
  summary: { ok: number; failed: number; total: number; removed: number; bytesFreed: number };
}

/** The frame's deps; each proxy's row comes as its `proxy-finished` event. */
export type PruneDeps = FrameDeps<ProxyPruneResult>;

/**
 * List the engine's images and containers, select by the rule, and (unless `dryRun`) delete
 * each selected image's names of its repository, one by one: another repository's name is never
 * deleted, and a refusal of one image does not stop the others.
 */
export async function pruneOnEngine(
  engine: EngineImages,
  job: Pick<PruneJob, "images" | "keep" | "dryRun">,
  allowed?: ReadonlySet<string>,
): Promise<EnginePrune> {
  const [images, inUse] = await Promise.all([engine.listImages(), engine.containerImageIds()]);
  const selection = selectPrunable(images, {
    current: job.images.map((i) => i.reference),
    inUse,
    keep: job.keep,
  });
  const chosen = selection.remove.filter((c) => allowed === undefined || allowed.has(c.id));
  const removed: PrunedImage[] = [];
  let bytesFreed = 0;
  let error: ErrorInfo | undefined;
  for (const candidate of chosen) {
    if (job.dryRun) {
      removed.push({ ...candidate, deleted: false, untagged: [] });
      continue;
    }
    const done: PrunedImage = { ...candidate, deleted: false, untagged: [] };
    try {
      for (const name of candidate.names) {
        const answer = await engine.removeImageName(name);
        done.untagged.push(...answer.untagged);
        if (answer.deleted.includes(candidate.id)) done.deleted = true;
      }
    } catch (failure) {
      done.error = toErrorInfo(failure);
      error ??= done.error;
    }
    if (done.deleted) bytesFreed += candidate.size;
    removed.push(done);
  }
  return { removed, kept: selection.kept, bytesFreed, ...(error ? { error } : {}) };
}

/** Prune every proxy through the one batch; proxies not started when interrupted are skipped. */
export async function runPrune(
  proxies: Proxy[],
  job: PruneJob,
  deps: PruneDeps & { concurrency: number },
): Promise<PruneReport> {
  return pruneReport(job, await runProxies(proxies, pruneCommand(job), deps));
}

/** `prune` as a per-proxy command of the frame: connect → engine → prune. */
export function pruneCommand(job: PruneJob): ProxyCommand<ProxyPruneResult> {
  return {
    timeoutMs: job.timeoutMs,
    steps: (frame) => ({
      run: async () => {
        const session = await frame.open();
        const allowed = job.confirmed?.get(frame.proxy.name) ?? noneIfConfirmed(job);
        const outcome = await frame.step("prune", () => pruneOnEngine(session, job, allowed));
        const status = outcome.error
          ? "failed"
          : job.dryRun
            ? "listed"
            : outcome.removed.length > 0
              ? "pruned"
              : "nothing";
        return { ...base(frame.proxy, frame.started), status, ...outcome };
      },
      failed: (error) =>
        failedRow(frame.proxy, frame.started, "failed", toErrorInfo(frame.deadline.explain(error))),
    }),
    notStarted: (proxy) =>
      failedRow(proxy, 0, "skipped", {
        code: "INTERRUPTED",
        message: `${printable(proxy.name)}: not started: the run was interrupted`,
      }),
  };
}

/** The report of a prune run from its rows. */
export function pruneReport(
  job: Pick<PruneJob, "images" | "keep" | "dryRun">,
  rows: ProxyPruneResult[],
): PruneReport {
  const failed = rows.filter((r) => r.status === "failed" || r.status === "skipped").length;
  return {
    command: "prune",
    references: job.images.map((i) => i.reference),
    keep: job.keep,
    dryRun: job.dryRun,
    proxies: rows,
    summary: {
      ok: rows.length - failed,
      failed,
      total: rows.length,
      removed: rows.reduce(
        (n, r) => n + r.removed.filter((i) => i.deleted || i.untagged.length > 0).length,
        0,
      ),
      bytesFreed: rows.reduce((n, r) => n + r.bytesFreed, 0),
    },
  };
}

/** With a confirmed list, a proxy absent from it had nothing confirmed: nothing may go there. */
function noneIfConfirmed(job: PruneJob): ReadonlySet<string> | undefined {
  return job.confirmed === undefined ? undefined : new Set();
}

function base(proxy: Proxy, started: number) {
  return {
    name: proxy.name,
    host: proxy.host,
    port: proxy.port,
    durationMs: started === 0 ? 0 : Date.now() - started,
  };
}

function failedRow(
  proxy: Proxy,
  started: number,
  status: "failed" | "skipped",
  error: ErrorInfo,
): ProxyPruneResult {
  return { ...base(proxy, started), status, removed: [], kept: [], bytesFreed: 0, error };
}
