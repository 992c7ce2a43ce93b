/**
 * `install`'s output: the sideload report as `pull` prints it, then the install's part (the gate,
 * each pak's upload id, states and outcome, the kinds confirmed, the running check), human or
 * JSON, and a JUnit suite per pak. Every value from a server or a pak is printed escaped.
 */
import { basename } from "node:path";
import { oneLine, printable } from "../../errors.js";
import type { InstallResult, PakInstall } from "../../install/run-install.js";
import type { RunningReport } from "../../install/running.js";
import type { Pak } from "../../pak/read-pak.js";
import { batchSuite, renderJunitSuites, type JunitCase, type JunitSuite } from "./junit.js";
import { renderReportHuman, reportDocument } from "./batch.js";

/** What `install` reports besides the run: where, and what was asked. */
export interface InstallContext {
  /** VCF Operations' host:port. */
  ops: string;
  force: boolean;
  timeoutMs: number;
  /** The running check, when it ran (verify --running's rows). */
  running?: RunningReport | undefined;
  /** Why there is no running check (a first install has no instance yet). */
  runningNote?: string | undefined;
}

/** The `install --json` document: `pull`'s, with `command: "install"` and an `install` object. */
export function installDocument(result: InstallResult, context: InstallContext) {
  const base = reportDocument(result.sideload.report);
  return {
    ...base,
    command: "install",
    install: {
      ops: context.ops,
      force: context.force,
      outcome: result.outcome,
      ready: result.gate.ready,
      notReady: result.gate.notReady,
      failedProxies: result.gate.failed,
      paks: result.installs.map((i) => ({
        file: i.file,
        name: i.name,
        version: i.version,
        pakId: i.pakId ?? null,
        states: i.states,
        outcome: i.outcome,
        durationMs: i.durationMs,
        ...(i.words === undefined ? {} : { words: i.words }),
        ...(i.error === undefined ? {} : { error: i.error }),
      })),
      ...(result.kinds === undefined
        ? {}
        : {
            kinds: { known: result.kinds.known, missing: result.kinds.missing },
            instances: result.kinds.instances.map((i) => ({ name: i.name, kind: i.kind })),
          }),
      ...(context.running === undefined ? {} : { running: context.running }),
      ...(context.runningNote === undefined ? {} : { runningNote: context.runningNote }),
    },
  };
}

export function renderInstallJson(result: InstallResult, context: InstallContext): string {
  return `${JSON.stringify(installDocument(result, context), null, 2)}\n`;
}

/** The human report: the sideload's lines, then the gate, the installs and what follows. */
export function renderInstallHuman(result: InstallResult, context: InstallContext): string {
  const lines = [renderReportHuman(result.sideload.report).trimEnd(), ""];
  if (!result.gate.ready) {
    lines.push(
      `install: nothing uploaded to VCF Operations ${printable(context.ops)}: not every proxy holds every image`,
    );
    for (const g of result.gate.notReady) {
      const lacking = g.lacking.length > 0 ? `lacking the image: ${g.lacking.map(printable).join(", ")}` : "";
      const unchecked = g.unchecked.length > 0 ? `not checked: ${g.unchecked.map(printable).join(", ")}` : "";
      lines.push(`  ${printable(g.group)}: ${[lacking, unchecked].filter(Boolean).join("; ")}`);
    }
    if (result.gate.failed.length > 0)
      lines.push(`  failed: ${result.gate.failed.map(printable).join(", ")}`);
    return `${lines.join("\n")}\n`;
  }
  for (const i of result.installs) lines.push(installLine(i));
  if (result.kinds !== undefined) {
    if (result.kinds.known.length > 0)
      lines.push(`adapter kinds known to VCF Operations: ${result.kinds.known.map(printable).join(", ")}`);
    if (result.kinds.missing.length > 0)
      lines.push(
        `NOT known to VCF Operations after the install: ${result.kinds.missing.map(printable).join(", ")}`,
      );
  }
  if (context.runningNote !== undefined) lines.push(context.runningNote);
  if (context.running !== undefined) lines.push(...renderRunningLines(context.running));
  return `${lines.join("\n")}\n`;
}

function installLine(i: PakInstall): string {
  const name = printable(basename(i.file));
  const states = i.states.length > 0 ? `  ${i.states.map(printable).join(" → ")}` : "";
  const id = i.pakId === undefined ? "" : `  (pak id ${printable(i.pakId)})`;
  const head = `${i.outcome === "completed" ? "installed" : i.outcome === "not-started" ? "skipped  " : "FAILED   "} ${name}${id}${states}  ${(i.durationMs / 1000).toFixed(1)}s`;
  if (i.error === undefined) return head;
  const hint = i.error.hint === undefined ? "" : `\n        hint: ${oneLine(i.error.hint)}`;
  return `${head}\n        ${i.error.code}: ${oneLine(i.error.message)}${hint}`;
}

/** The dry run's install part: what would happen after the sideloads, in order. */
export function renderInstallPlan(paks: Pak[], context: InstallContext, kinds: string[]): string {
  const advice = context.force ? "CLOBBER" : "STANDARD";
  const lines = [
    "then, only if every collector group involved holds every image (else nothing is uploaded):",
    ...paks.flatMap((p) => [
      `  upload ${printable(basename(p.file))} (${printable(p.name)} ${printable(p.version)}) to VCF Operations ${printable(context.ops)} through CaSA, pak_handling_advice=${advice}`,
      `  install it (force_content_update=${String(context.force)}) and wait for COMPLETED, at most ${Math.round(context.timeoutMs / 60_000)} min`,
    ]),
    `  confirm through the Suite API that VCF Operations knows ${kinds.map(printable).join(", ")}`,
    "  check the adapter containers of their instances on the proxies (verify --running), when instances exist",
  ];
  return `${lines.join("\n")}\n`;
}

/** The JUnit report: the sideload's suite, then one case per pak. */
export function renderInstallJunit(result: InstallResult): string {
  const cases = result.installs.map((i): JunitCase => ({
    classname: "install",
    name: basename(i.file),
    timeS: i.durationMs / 1000,
    ...(i.outcome === "completed"
      ? {}
      : i.outcome === "not-started"
        ? { skipped: { message: i.error?.message } }
        : {
            failure: {
              type: i.error?.code ?? "INSTALL_FAILED",
              message: `${i.error?.code ?? "INSTALL_FAILED"}: ${i.error?.message ?? "failed"}`,
              text: [i.error?.message ?? "", ...(i.error?.hint ? [`hint: ${i.error.hint}`] : [])].join("\n"),
            },
          }),
    systemOut: `pak id: ${i.pakId ?? "none"}\nstates: ${i.states.join(" → ") || "none"}`,
  }));
  if (!result.gate.ready)
    cases.push({
      classname: "install",
      name: "coverage",
      failure: {
        type: "INSTALL_NOT_READY",
        message: "INSTALL_NOT_READY: nothing uploaded",
        text: result.gate.notReady.map((g) => `${g.group}: lacking ${g.lacking.join(", ")}`).join("\n"),
      },
    });
  const suite: JunitSuite = {
    name: "install",
    cases,
    timeS: result.installs.reduce((t, i) => t + i.durationMs / 1000, 0),
  };
  return renderJunitSuites([batchSuite(result.sideload.report), suite]);
}

/** The human lines of the check. */
export function renderRunningLines(report: RunningReport): string[] {
  if (report.note !== undefined) return [report.note];
  const lines = ["adapter containers (verify --running):"];
  for (const r of report.rows) {
    const on = r.collector === undefined ? "" : ` on ${printable(r.collector)}`;
    const head = `  ${printable(r.instance)} (${printable(r.kind)})${on}: ${r.verdict === "none" ? "no container of its image" : r.verdict}`;
    lines.push(
      r.note ? `${head}: ${r.note}` : r.error ? `${head}: ${r.error.code}: ${r.error.message}` : head,
    );
    for (const c of r.containers) {
      const exit = c.exitCode === undefined ? "" : `, exit code ${c.exitCode}`;
      lines.push(`    ${c.id} ${printable(c.name)}: ${printable(c.state)} (${printable(c.status)}${exit})`);
      for (const line of c.logs ?? []) lines.push(`      | ${line}`);
    }
  }
  return lines;
}
