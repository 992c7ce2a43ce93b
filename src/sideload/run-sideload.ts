/**
 * The run arrow of the pipeline: the proxies and the job, built once, through the batch; the
 * registries' verdict and the report come back as one result the command renders.
 */
import type { Proxy } from "../inventory/proxy.js";
import type { OpsGroup } from "../ops/resolve.js";
import { coverageOf, type Coverage } from "../coverage/coverage.js";
import type { RegistryGate, RegistrySummary } from "../gate/registry-gate.js";
import { runBatch, type BatchOptions } from "./run-batch.js";
import type { BatchReport, SideloadJob } from "./types.js";

/** What a `pull` or `verify` run gives back. */
export interface SideloadResult {
  report: BatchReport;
  registries: RegistrySummary[];
  /** Per collector group (targets from VCF Operations): how many members hold every image. */
  coverage?: Coverage | undefined;
}

/**
 * Run `job` on `proxies`. A registry verdict that stops the run (the gate's refusal) ends the
 * batch at once and is thrown here: an input error, whatever the batch did meanwhile, since no
 * credential reached a proxy and nothing was changed.
 */
export async function runSideload(
  proxies: Proxy[],
  job: SideloadJob,
  gate: RegistryGate | undefined,
  options: BatchOptions,
  /** The collector groups the proxies came from (VCF Operations), for the coverage verdict. */
  groups: OpsGroup[] = [],
): Promise<SideloadResult> {
  const signal =
    gate === undefined
      ? options.signal
      : AbortSignal.any([gate.refused, ...(options.signal ? [options.signal] : [])]);
  const report = await runBatch(proxies, job, { ...options, signal });
  if (gate?.refused.aborted) throw gate.refused.reason;
  const registries = gate === undefined ? [] : await gate.summary();
  const coverage = groups.length === 0 ? undefined : coverageOf(groups, report.proxies, report.references);
  return { report: { ...report, registries, ...(coverage ? { coverage } : {}) }, registries, coverage };
}
