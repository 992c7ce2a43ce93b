import { hostPort, oneLine, printable } from "../../errors.js";
import { renderCoverageLines } from "../../coverage/coverage.js";
import type { PlannedProxy } from "../../plan/plan.js";
import type { ProxyEvent } from "../../session/events.js";
import type { BatchReport, ProxyResult, SideloadEvent } from "../../sideload/types.js";
import type { Terminal } from "../terminal.js";
import { progressText } from "./live-board.js";

/** The `pull`/`verify --json` document of the design. */
export function reportDocument(report: BatchReport) {
  return {
    command: report.command,
    references: report.references,
    proxies: report.proxies.map((r) => ({
      name: r.name,
      host: r.host,
      port: r.port,
      status: r.status,
      reference: r.reference,
      durationMs: r.durationMs,
      ...(r.transport ? { transport: r.transport } : {}),
      ...(r.engine ? { engine: r.engine } : {}),
      ...(r.failedStep ? { failedStep: r.failedStep } : {}),
      ...(r.attempts ? { attempts: r.attempts } : {}),
      ...(r.opsState ? { opsState: r.opsState } : {}),
      ...(r.registryCa ? { registryCa: r.registryCa } : {}),
      ...(r.via ? { via: r.via } : {}),
      ...(r.relayReason ? { relayReason: r.relayReason } : {}),
      steps: r.steps,
      ...(r.error ? { error: r.error } : {}),
      ...(r.prune ? { prune: r.prune } : {}),
    })),
    summary: report.summary,
    ...(report.coverage === undefined ? {} : { coverage: report.coverage }),
    ...(report.registries === undefined || report.registries.length === 0
      ? {}
      : { registries: report.registries }),
  };
}

export function renderReportJson(report: BatchReport): string {
  return `${JSON.stringify(reportDocument(report), null, 2)}\n`;
}

const marks: Record<ProxyResult["status"], string> = {
  pulled: "ok",
  present: "ok",
  missing: "MISSING",
  failed: "FAILED",
  skipped: "skipped",
};

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** One line per proxy and reference, then the error lines, then a summary. */
export function renderReportHuman(report: BatchReport): string {
  // Names come from an inventory or a report: printed escaped, never raw.
  const names = report.proxies.map((r) => printable(r.name));
  const width = names.reduce((w, n) => Math.max(w, n.length), 5);
  const multi = report.references.length > 1;
  const lines = report.proxies.map((r, i) => {
    const down = r.opsState ? `  (${printable(r.opsState)} in VCF Operations: tried all the same)` : "";
    const head = `${marks[r.status].padEnd(7)} ${(names[i] ?? "").padEnd(width)}  ${r.status.padEnd(7)} ${seconds(r.durationMs).padStart(6)}${down}`;
    const ref = multi ? `  ${r.reference}` : "";
    const err = r.error
      ? `\n        ${r.error.code}: ${oneLine(r.error.message)}${r.error.hint ? `\n        hint: ${oneLine(r.error.hint)}` : ""}`
      : "";
    return head + ref + err + pruneLine(r);
  });
  const { ok, failed, total } = report.summary;
  const what = report.references.length === 1 ? report.references[0] : `${report.references.length} images`;
  const coverage =
    report.coverage === undefined ? [] : ["", ...renderCoverageLines(report.coverage, printable)];
  return `${report.command} ${what}\n${lines.join("\n")}\n${ok} ok, ${failed} ${report.command === "verify" ? "not ok" : "failed"}, ${total} in all\n${coverage.map((l) => `${l}\n`).join("")}`;
}

/** `pull --prune`: what went of the row's repository on its proxy. */
function pruneLine(r: ProxyResult): string {
  if (r.prune === undefined) return "";
  const { removed, bytesFreed, error } = r.prune;
  const mib = `${(bytesFreed / 1024 ** 2).toFixed(1)} MiB`;
  const what = `\n        pruned ${removed.length} old image${removed.length === 1 ? "" : "s"}, freed ${mib}`;
  return error ? `${what}; ${error.code}: ${oneLine(error.message)}` : what;
}

/** `--dry-run --json`: the plan as one JSON document (fields are only ever added: scripts read it). */
export function renderPlanJson(
  mode: "pull" | "verify",
  references: string[],
  plan: PlannedProxy[],
  outline: string[] = [],
): string {
  const proxies = plan.map((p) => ({
    name: p.proxy.name,
    host: p.proxy.host,
    port: p.proxy.port,
    user: p.proxy.user,
    route: p.route,
    ...(p.proxy.reason ? { reason: p.proxy.reason } : {}),
    ...(p.proxy.opsState ? { opsState: p.proxy.opsState } : {}),
    ...(p.proxy.jump
      ? { jump: p.proxy.jump.map((h) => ({ name: h.name, host: h.host, port: h.port, user: h.user })) }
      : {}),
    auth: p.auth,
    action: p.action,
    references: p.references,
    steps: p.steps,
  }));
  return `${JSON.stringify({ command: mode, dryRun: true, references, steps: outline, plan: proxies }, null, 2)}\n`;
}

/** How a plan is printed: the short form (one line per proxy, the steps once) or `--verbose`. */
export interface PlanLayout {
  heading?: string | undefined;
  /** The steps once for all proxies (`planOutline`). */
  outline: string[];
  references: string[];
  verbose?: boolean | undefined;
}

/** The plan for a terminal: a line per proxy (route, user, SSH credentials, what will happen), the steps once. */
export function renderPlan(mode: "pull" | "verify", plan: PlannedProxy[], layout: PlanLayout): string {
  const heading = layout.heading ?? `dry run: ${mode} would do this, and nothing has been done:`;
  if (layout.verbose) return renderPlanVerbose(plan, heading);
  const cells = plan.map((p) => [
    // The route only when it goes through jump hosts: `you → cp-1` says nothing.
    `${printable(p.proxy.name)}${p.proxy.jump?.length ? ` via ${p.proxy.jump.map((h) => printable(h.name)).join(" → ")}` : ""}`,
    `${p.proxy.user}@${hostPort(p.proxy.host, p.proxy.port)}`,
    p.auth,
    p.action,
  ]);
  const widths = [0, 1, 2].map((i) => cells.reduce((w, c) => Math.max(w, c[i]?.length ?? 0), 0));
  const out = [heading, mode === "pull" ? "images (each pulled where it is missing):" : "images:"];
  for (const reference of layout.references) out.push(`  ${reference}`);
  out.push(`proxies (${plan.length}):`);
  plan.forEach((p, i) => {
    const row = cells[i] ?? [];
    out.push(`  ${row.map((c, j) => (j < 3 ? c.padEnd(widths[j] ?? 0) : c)).join("  ")}`.trimEnd());
    if (p.proxy.reason) out.push(`    why: ${whyOf(p)}`);
  });
  out.push("steps, on each proxy:");
  layout.outline.forEach((step, i) => out.push(`  ${i + 1}. ${step}`));
  out.push("(--verbose: every step of every proxy)");
  return `${out.join("\n")}\n`;
}

function whyOf(p: PlannedProxy): string {
  return `${printable(p.proxy.reason ?? "")}${p.proxy.opsState === "DOWN" ? " (DOWN in VCF Operations: still tried)" : ""}`;
}

function renderPlanVerbose(plan: PlannedProxy[], heading: string): string {
  const out = [heading];
  for (const p of plan) {
    out.push(`${printable(p.proxy.name)}: ${p.route}`);
    out.push(`  ssh: ${p.auth}`);
    if (p.proxy.reason) out.push(`  why: ${whyOf(p)}`);
    p.steps.forEach((step, i) => out.push(`  ${i + 1}. ${step}`));
  }
  return `${out.join("\n")}\n`;
}

/**
 * `--debug`'s line for any event of any per-proxy command: the proxy, the type, the rest as
 * JSON. A finished proxy's rows are left out (the report holds them).
 */
export function debugLine(event: ProxyEvent): string {
  const { proxy, type, ...rest } = event;
  const json = JSON.stringify(rest, (k, v: unknown) => (k === "results" ? undefined : v));
  return `debug: ${printable(proxy.name)} ${type} ${json}\n`;
}

/**
 * Live progress on stderr without the board: a line as each proxy finishes (interactive), pull
 * progress as layers complete and at most once a second between (interactive), the engine's
 * re-issues (always), and every event with --debug. Nothing on stdout: that is for the result.
 */
export function createLiveRenderer(terminal: Terminal, options: { debug: boolean; json: boolean }) {
  const last = new Map<string, { at: number; layersDone: number; layers: number }>();
  return (event: SideloadEvent): void => {
    if (options.debug) terminal.err(debugLine(event));
    if (event.type === "retry") {
      terminal.err(
        `${printable(event.proxy.name)}: ${event.error.code}; re-issuing the pull in ${seconds(event.delayMs)} (attempt ${event.attempt + 1})\n`,
      );
    } else if (event.type === "pull-progress" && terminal.interactive && !options.json) {
      const now = Date.now();
      const p = event.progress;
      const before = last.get(event.proxy.name);
      // A layer done (or a new one named) is news at once; bytes alone, once a second.
      const moved = before === undefined || before.layersDone !== p.layersDone || before.layers !== p.layers;
      if (!moved && now - before.at < 1000) return;
      last.set(event.proxy.name, { at: now, layersDone: p.layersDone, layers: p.layers });
      terminal.err(`${printable(event.proxy.name)}: pulling ${progressText(p)}\n`);
    } else if (event.type === "proxy-finished" && !options.json && terminal.interactive) {
      for (const r of event.results)
        terminal.err(`${printable(event.proxy.name)}: ${r.status} in ${seconds(r.durationMs)}\n`);
    }
  };
}
