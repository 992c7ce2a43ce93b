/**
 * `prune`'s output: per proxy what goes (or would go) with its size, what stays and why, and the
 * bytes freed; the same report as JSON and as a JUnit test case per proxy.
 */
import { printable } from "../../errors.js";
import type { ProxyPruneResult, PruneReport, PrunedImage } from "../../prune/prune.js";
import { renderJunitSuites, type JunitCase } from "./junit.js";

/** Bytes as people read disk sizes: B, KiB, MiB, GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** The image's first name, its ID shortened, its size and age. */
function imageLine(image: PrunedImage, verb: string): string {
  const id = image.id.replace(/^sha256:/, "").slice(0, 12);
  const created =
    image.created > 0 ? `, built ${new Date(image.created * 1000).toISOString().slice(0, 10)}` : "";
  const only = image.untagOnly ? " (only this repository's names: the image keeps its other names)" : "";
  const failed = image.error ? `: NOT removed: ${image.error.code}: ${image.error.message}` : "";
  return `    ${verb} ${printable(image.names[0] ?? image.id)} [${id}] ${formatBytes(image.size)}${created}${only}${failed}\n`;
}

/** What stays, counted by reason. */
function keptLine(row: ProxyPruneResult): string {
  const count = (reason: string) => row.kept.filter((k) => k.reason === reason).length;
  const parts = [
    [count("current"), "current"],
    [count("in-use"), "used by a container"],
    [count("keep"), "kept by --keep"],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${n} ${what}`);
  return parts.length === 0 ? "" : `    stays: ${parts.join(", ")}\n`;
}

/** One proxy's lines. */
export function renderPruneRow(row: ProxyPruneResult, dryRun: boolean): string {
  const name = printable(row.name);
  if (row.status === "failed" && row.removed.length === 0) {
    return `✗ ${name}  ${row.error?.code ?? "FAILED"}: ${row.error?.message ?? ""}\n${row.error?.hint ? `    hint: ${row.error.hint}\n` : ""}`;
  }
  if (row.status === "skipped") return `- ${name}  skipped: ${row.error?.message ?? ""}\n`;
  const total = row.removed.reduce((n, i) => n + i.size, 0);
  const head =
    row.removed.length === 0
      ? `✓ ${name}  nothing to remove\n`
      : dryRun
        ? `• ${name}  would remove ${row.removed.length} image${row.removed.length === 1 ? "" : "s"} (${formatBytes(total)})\n`
        : `${row.status === "failed" ? "✗" : "✓"} ${name}  removed ${row.removed.filter((i) => !i.error).length} image${row.removed.length === 1 ? "" : "s"}, freed ${formatBytes(row.bytesFreed)}\n`;
  const verb = dryRun ? "would remove" : "removed";
  return head + row.removed.map((i) => imageLine(i, verb)).join("") + keptLine(row);
}

/** The human report: every proxy's lines, then the totals. */
export function renderPruneHuman(report: PruneReport): string {
  const lines = report.proxies.map((row) => renderPruneRow(row, report.dryRun)).join("");
  const s = report.summary;
  const totals = report.dryRun
    ? `${s.total} prox${s.total === 1 ? "y" : "ies"} listed (dry run: nothing removed)`
    : `freed ${formatBytes(s.bytesFreed)} on ${s.total} prox${s.total === 1 ? "y" : "ies"}; ${s.failed} failed`;
  return `${lines}\n${totals}\n`;
}

/** The JSON document (`--json`, `--report`). */
export function renderPruneJson(report: PruneReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** JUnit: a test case per proxy. */
export function renderPruneJunit(report: PruneReport): string {
  const cases: JunitCase[] = report.proxies.map((row) => ({
    classname: "mp-sideload.prune",
    name: row.name,
    timeS: row.durationMs / 1000,
    ...(row.status === "skipped"
      ? { skipped: { message: row.error?.message } }
      : row.status === "failed"
        ? {
            failure: {
              type: row.error?.code ?? "FAILED",
              message: row.error?.message ?? "failed",
              text: renderPruneRow(row, report.dryRun),
            },
          }
        : { systemOut: renderPruneRow(row, report.dryRun) }),
  }));
  const timeS = report.proxies.reduce((n, r) => n + r.durationMs, 0) / 1000;
  return renderJunitSuites([{ name: "mp-sideload prune", cases, timeS }]);
}
