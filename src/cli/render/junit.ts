/**
 * JUnit XML reports (`--junit FILE`), as CI systems read them: a `<testsuite>` per command run
 * inside one `<testsuites>`, a `<testcase>` per proxy and reference (per proxy and check for
 * `doctor`). The shape follows the Ant/Surefire format that Jenkins, GitLab and the GitHub
 * reporters share: counts and `time` (seconds) on every suite, `<failure type message>` with
 * text, `<skipped/>`, `<system-out>`.
 */
import { escapeMatches, printable, type ErrorInfo } from "../../errors.js";
import type { DoctorReport } from "../../doctor/doctor.js";
import type { BatchReport, ProxyResult } from "../../sideload/types.js";

/** One test case: what a CI system shows as one line of a test run. */
export interface JunitCase {
  classname: string;
  name: string;
  /** Seconds; absent when the case was not timed on its own (a doctor check). */
  timeS?: number | undefined;
  failure?: { type: string; message: string; text: string } | undefined;
  /** A skipped case, with its reason when there is one. */
  skipped?: { message?: string | undefined } | undefined;
  systemOut?: string | undefined;
}

/** One test suite: the cases of one command run. */
export interface JunitSuite {
  name: string;
  cases: JunitCase[];
  /** Seconds: the sum of the cases' (or the proxies') times, as Surefire counts it. */
  timeS: number;
}

export interface JunitOptions {
  /** When the run started: each suite's `timestamp` (ISO 8601, UTC). */
  startedAt?: Date | undefined;
}

/** The JUnit document for one or more `pull`/`verify` runs. */
export function renderJunit(
  reports: BatchReport | readonly BatchReport[],
  options: JunitOptions = {},
): string {
  const list: readonly BatchReport[] = Array.isArray(reports) ? reports : [reports as BatchReport];
  return renderJunitSuites(list.map(batchSuite), options);
}

/** The JUnit document for a `doctor` run. */
export function renderDoctorJunit(report: DoctorReport, options: JunitOptions = {}): string {
  return renderJunitSuites([doctorSuite(report)], options);
}

/** A `pull`/`verify` report as a suite: one case per proxy and reference, in the report's order. */
export function batchSuite(report: BatchReport): JunitSuite {
  const cases = report.proxies.map((row) => batchCase(report.command, row));
  return { name: report.command, cases, timeS: sumSeconds(report.proxies.map((r) => r.durationMs)) };
}

function batchCase(command: string, row: ProxyResult): JunitCase {
  const base = { classname: command, name: `${row.name} ${row.reference}`, timeS: row.durationMs / 1000 };
  switch (row.status) {
    case "pulled":
    case "present":
      return { ...base, systemOut: row.status };
    case "skipped":
      return { ...base, skipped: { message: row.error && errorLine(row.error) } };
    case "missing":
      return {
        ...base,
        failure: {
          type: "missing",
          message: `${row.name} does not hold ${row.reference}`,
          text: `${row.name} does not hold ${row.reference}\nhint: run mp-sideload pull to put it there`,
        },
      };
    case "failed":
      return { ...base, failure: failureOf(row.error, row.failedStep) };
  }
}

/** A `doctor` report as a suite: one case per proxy and check; a warning passes, told in system-out. */
export function doctorSuite(report: DoctorReport): JunitSuite {
  const cases = report.proxies.flatMap((row): JunitCase[] => {
    if (row.checks.length === 0) {
      return [{ classname: "doctor", name: row.name, timeS: row.durationMs / 1000, systemOut: row.verdict }];
    }
    return row.checks.map((check) => {
      const base = { classname: "doctor", name: `${row.name} ${check.check}` };
      const detail = check.hint === undefined ? check.detail : `${check.detail}\nhint: ${check.hint}`;
      if (check.verdict === "fail") {
        const type = check.code ?? "fail";
        return { ...base, failure: { type, message: `${type}: ${check.detail}`, text: detail } };
      }
      return { ...base, systemOut: `${check.verdict}: ${detail}` };
    });
  });
  return { name: "doctor", cases, timeS: sumSeconds(report.proxies.map((r) => r.durationMs)) };
}

/** Serialise suites into one `<testsuites>` document. Every value is escaped for XML 1.0. */
export function renderJunitSuites(suites: readonly JunitSuite[], options: JunitOptions = {}): string {
  const totals = countOf(suites.flatMap((s) => s.cases));
  const time = suites.reduce((t, s) => t + s.timeS, 0);
  const timestamp = options.startedAt?.toISOString().replace(/\.\d{3}Z$/, "");
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="mp-sideload"${countAttrs(totals)} time="${seconds(time)}">`,
  ];
  for (const suite of suites) {
    const stamp = timestamp === undefined ? "" : ` timestamp="${timestamp}"`;
    lines.push(
      `  <testsuite name="${attr(suite.name)}"${countAttrs(countOf(suite.cases))} time="${seconds(suite.timeS)}"${stamp}>`,
    );
    for (const c of suite.cases) lines.push(...caseLines(c));
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>");
  return `${lines.join("\n")}\n`;
}

function caseLines(c: JunitCase): string[] {
  const time = c.timeS === undefined ? "" : ` time="${seconds(c.timeS)}"`;
  const open = `    <testcase classname="${attr(c.classname)}" name="${attr(c.name)}"${time}`;
  const inner: string[] = [];
  if (c.failure) {
    inner.push(
      `      <failure type="${attr(c.failure.type)}" message="${attr(c.failure.message)}">${text(c.failure.text)}</failure>`,
    );
  }
  if (c.skipped) {
    const message = c.skipped.message === undefined ? "" : ` message="${attr(c.skipped.message)}"`;
    inner.push(`      <skipped${message}/>`);
  }
  if (c.systemOut !== undefined) inner.push(`      <system-out>${text(c.systemOut)}</system-out>`);
  return inner.length === 0 ? [`${open}/>`] : [`${open}>`, ...inner, "    </testcase>"];
}

/** `CODE: message` as the failure's message; the message, hint and failed step as its text. */
function failureOf(error: ErrorInfo | undefined, step: string | undefined): JunitCase["failure"] {
  const stepLine = step === undefined ? [] : [`failed step: ${step}`];
  if (error === undefined)
    return { type: "failed", message: "failed", text: ["failed", ...stepLine].join("\n") };
  const hint = error.hint === undefined ? [] : [`hint: ${error.hint}`];
  return {
    type: error.code,
    message: `${error.code}: ${error.message}`,
    text: [error.message, ...hint, ...stepLine].join("\n"),
  };
}

function errorLine(error: ErrorInfo): string {
  return `${error.code}: ${error.message}`;
}

interface Counts {
  tests: number;
  failures: number;
  skipped: number;
}

function countOf(cases: readonly JunitCase[]): Counts {
  return {
    tests: cases.length,
    failures: cases.filter((c) => c.failure).length,
    skipped: cases.filter((c) => c.skipped).length,
  };
}

function countAttrs(c: Counts): string {
  // errors: JUnit's "the test itself broke"; every problem here is a failure of the proxy.
  return ` tests="${c.tests}" failures="${c.failures}" errors="0" skipped="${c.skipped}"`;
}

function sumSeconds(durationsMs: readonly number[]): number {
  return durationsMs.reduce((t, ms) => t + ms, 0) / 1000;
}

function seconds(s: number): string {
  return Number.isFinite(s) && s > 0 ? s.toFixed(3) : "0.000";
}

/**
 * Untrusted text (proxy names, engine messages) made fit for XML 1.0: the characters it cannot
 * carry at all, not even as `&#…;` (C0 controls, U+FFFE, U+FFFF, lone surrogates), and the ones
 * that would move a terminal showing the report (DEL, C1, bidi overrides) become visible
 * `\u001b`-style escapes, as everywhere else in mp-sideload's output. Newlines the renderer
 * itself puts between lines survive: each line is cleaned on its own.
 */
function clean(value: string): string {
  return value
    .split("\n")
    .map((line) => escapeMatches(printable(line), notXmlChar))
    .join("\n");
}

const notXmlChar = /[\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function text(value: string): string {
  return clean(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function attr(value: string): string {
  // A newline in an attribute would be normalised to a space by every XML parser: keep it as &#10;.
  return text(value).replace(/"/g, "&quot;").replace(/'/g, "&apos;").replace(/\n/g, "&#10;");
}
