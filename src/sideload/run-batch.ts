import type { Proxy } from "../inventory/proxy.js";
import { runProxies } from "../session/proxy-frame.js";
import { sideloadCommand, type ProxyDeps } from "./sideload-proxy.js";
import type { BatchReport, ProxyResult, SideloadJob } from "./types.js";

export interface BatchOptions extends ProxyDeps {
  concurrency: number;
}

/**
 * Run the job on every proxy through the one batch (session/proxy-frame.ts), at most
 * `concurrency` at once. One proxy failing never stops the others; proxies not started when
 * the run is interrupted are reported as skipped.
 */
export async function runBatch(
  proxies: Proxy[],
  job: SideloadJob,
  options: BatchOptions,
): Promise<BatchReport> {
  const results = await runProxies(proxies, sideloadCommand(job, options), options);
  return buildReport(
    job.mode,
    job.images.map((t) => t.reference),
    results.flat(),
  );
}

export function buildReport(
  command: "pull" | "verify",
  references: string[],
  rows: ProxyResult[],
): BatchReport {
  const ok = rows.filter((r) => r.status === "pulled" || r.status === "present").length;
  return {
    command,
    references,
    proxies: rows,
    summary: { ok, failed: rows.length - ok, total: rows.length },
  };
}
