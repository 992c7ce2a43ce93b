import { printable } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";
import { mapConcurrently } from "../session/map-concurrently.js";
import { imagesFor } from "./proxy-images.js";
import { sideloadProxy, type ProxyDeps } from "./sideload-proxy.js";
import type { BatchReport, ProxyResult, SideloadJob } from "./types.js";

export interface BatchOptions extends ProxyDeps {
  concurrency: number;
}

/**
 * Run the job on every proxy, at most `concurrency` at once. One proxy failing never stops the
 * others; proxies not started when the run is interrupted are reported as skipped.
 */
export async function runBatch(
  proxies: Proxy[],
  job: SideloadJob,
  options: BatchOptions,
): Promise<BatchReport> {
  const results = await mapConcurrently(
    proxies,
    options.concurrency,
    (proxy) => sideloadProxy(proxy, job, options),
    (proxy) => imagesFor(proxy, job.images).map((t) => skipped(proxy, t.reference)),
    options.signal,
  );
  return buildReport(
    job.mode,
    job.images.map((t) => t.reference),
    results.flat(),
  );
}

function skipped(proxy: Proxy, reference: string): ProxyResult {
  return {
    name: proxy.name,
    host: proxy.host,
    port: proxy.port,
    status: "skipped",
    reference,
    durationMs: 0,
    steps: [],
    error: { code: "INTERRUPTED", message: `${printable(proxy.name)}: not started: the run was interrupted` },
  };
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
