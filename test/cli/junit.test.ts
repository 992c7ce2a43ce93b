/**
 * The JUnit report parses as XML (fast-xml-parser, and libxml2's xmllint where installed: CI
 * installs it with the lab's packages), has the shape CI systems read, lists every proxy and
 * reference, and survives hostile proxy names and engine messages.
 */
import { spawnSync } from "node:child_process";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { renderDoctorJunit, renderJunit } from "../../src/cli/render/junit.js";
import type { DoctorReport } from "../../src/doctor/doctor.js";
import type { BatchReport, ProxyResult } from "../../src/sideload/types.js";

const ref = "registry.example.com:8443/mp/mysql-adapter@sha256:" + "4f".repeat(32);
const ref2 = "registry.example.com:8443/mp/other@sha256:" + "0a".repeat(32);
/** Everything XML 1.0 cannot carry, what it must escape, and what a terminal would obey. */
const hostile = "cp-<evil>&\"quote'\u0000\u0007\u001b[2J\u009b\ufffe\ud800\u202e-end";
/** How the report shows it: each of those characters as a visible escape. */
const shown = `cp-<evil>&"quote'\\u0000\\u0007\\u001b[2J\\u009b\\ufffe\\ud800\\u202e-end`;

function row(overrides: Partial<ProxyResult>): ProxyResult {
  return {
    name: "cp-1",
    host: "10.0.0.5",
    port: 22,
    status: "pulled",
    reference: ref,
    durationMs: 1500,
    steps: [],
    ...overrides,
  };
}

const pull: BatchReport = {
  command: "pull",
  references: [ref, ref2],
  proxies: [
    row({ name: "cp-east-1", status: "pulled", durationMs: 2140 }),
    row({ name: "cp-east-1", status: "present", reference: ref2, durationMs: 10 }),
    row({
      name: hostile,
      status: "failed",
      durationMs: 20_010,
      failedStep: "connect",
      error: {
        code: "SSH_UNREACHABLE",
        message: `${hostile} (10.0.0.9:22): connection refused`,
        hint: "check <sshd> & the port",
      },
    }),
    row({
      name: "cp-west-2",
      status: "skipped",
      durationMs: 0,
      error: { code: "INTERRUPTED", message: "interrupted by SIGINT" },
    }),
  ],
  summary: { ok: 2, failed: 2, total: 4 },
};

const verify: BatchReport = {
  command: "verify",
  references: [ref],
  proxies: [row({ name: "cp-east-1", status: "missing", durationMs: 300 })],
  summary: { ok: 0, failed: 1, total: 1 },
};

interface Case {
  classname: string;
  name: string;
  time?: string;
  failure?: { type: string; message: string; "#text": string };
  skipped?: { message?: string } | "";
  "system-out"?: string;
}
interface Suite {
  name: string;
  tests: string;
  failures: string;
  errors: string;
  skipped: string;
  time: string;
  timestamp?: string;
  testcase: Case[];
}

/** Parse strictly and return the suites; fails the test on any XML error. */
function parse(xml: string): { attrs: Record<string, string>; suites: Suite[] } {
  expect(XMLValidator.validate(xml)).toBe(true);
  // eslint-disable-next-line no-control-regex
  expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udfff]/);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseAttributeValue: false,
    parseTagValue: false,
    isArray: (name) => name === "testsuite" || name === "testcase",
  });
  const doc = parser.parse(xml) as { testsuites: Record<string, string> & { testsuite: Suite[] } };
  const { testsuite, ...attrs } = doc.testsuites;
  return { attrs, suites: testsuite };
}

const xmllint = spawnSync("xmllint", ["--version"]).status === 0;

describe("renderJunit", () => {
  const xml = renderJunit([pull, verify], { startedAt: new Date("2026-12-01T20:00:00.123Z") });

  it("is a <testsuites> with a <testsuite> per command run and the counts CI systems read", () => {
    const { attrs, suites } = parse(xml);
    expect(attrs).toMatchObject({
      name: "mp-sideload",
      tests: "5",
      failures: "2",
      errors: "0",
      skipped: "1",
    });
    expect(suites.map((s) => s.name)).toEqual(["pull", "verify"]);
    expect(suites[0]).toMatchObject({ tests: "4", failures: "1", errors: "0", skipped: "1", time: "22.160" });
    expect(suites[0]?.timestamp).toBe("2026-12-01T20:00:00");
    expect(suites[1]).toMatchObject({ tests: "1", failures: "1", skipped: "0", time: "0.300" });
  });

  it("has a <testcase> per proxy and reference, classname the command, name 'proxy reference', time in seconds", () => {
    const cases = parse(xml).suites.flatMap((s) => s.testcase);
    expect(cases.map((c) => [c.classname, c.name, c.time])).toEqual([
      ["pull", `cp-east-1 ${ref}`, "2.140"],
      ["pull", `cp-east-1 ${ref2}`, "0.010"],
      ["pull", `${shown} ${ref}`, "20.010"],
      ["pull", `cp-west-2 ${ref}`, "0.000"],
      ["verify", `cp-east-1 ${ref}`, "0.300"],
    ]);
  });

  it("carries code, message and hint in a failure, and a skipped row as <skipped/>", () => {
    const cases = parse(xml).suites.flatMap((s) => s.testcase);
    const failed = cases[2]?.failure;
    expect(failed?.type).toBe("SSH_UNREACHABLE");
    expect(failed?.message).toBe(`SSH_UNREACHABLE: ${shown} (10.0.0.9:22): connection refused`);
    expect(failed?.["#text"]).toBe(
      `${shown} (10.0.0.9:22): connection refused\nhint: check <sshd> & the port\nfailed step: connect`,
    );
    expect(cases[3]?.skipped).toEqual({ message: "INTERRUPTED: interrupted by SIGINT" });
    expect(cases[3]?.failure).toBeUndefined();
    expect(cases[0]?.failure).toBeUndefined();
    expect(cases[0]?.["system-out"]).toBe("pulled");
    expect(cases[4]?.failure?.type).toBe("missing");
  });

  it("escapes the hostile name: nothing XML 1.0 forbids, nothing a terminal would obey", () => {
    expect(xml).toContain(
      "cp-&lt;evil&gt;&amp;&quot;quote&apos;\\u0000\\u0007\\u001b[2J\\u009b\\ufffe\\ud800\\u202e-end",
    );
    expect(xml).not.toContain("\u001b");
  });

  it.skipIf(!xmllint && !process.env.CI)("is well-formed for libxml2 (xmllint), which CI installs", () => {
    const lint = spawnSync("xmllint", ["--noout", "-"], { input: xml, encoding: "utf8" });
    expect(lint.stderr).toBe("");
    expect(lint.status).toBe(0);
    // And the check itself catches what it must: an unescaped control character.
    const broken = spawnSync("xmllint", ["--noout", "-"], { input: "<a>\u0001</a>", encoding: "utf8" });
    expect(broken.status).not.toBe(0);
  });
});

describe("renderDoctorJunit", () => {
  const report: DoctorReport = {
    command: "doctor",
    references: [ref],
    proxies: [
      {
        name: "cp-east-1",
        host: "10.0.0.5",
        port: 22,
        verdict: "fail",
        durationMs: 840,
        checks: [
          { check: "ssh", verdict: "pass", detail: "root by publickey" },
          { check: "disk", verdict: "warn", detail: "3.9 GiB free", hint: "free some space" },
          {
            check: "registry registry.example.com:8443",
            verdict: "fail",
            detail: "x509: unknown authority",
            code: "REGISTRY_UNTRUSTED_CA",
            hint: "pass --registry-ca FILE",
          },
        ],
      },
    ],
    summary: { pass: 0, warn: 0, fail: 1, total: 1 },
  };

  it("has a <testcase> per proxy and check; a failed check carries its code, a warning passes", () => {
    const { suites } = parse(renderDoctorJunit(report));
    expect(suites.map((s) => [s.name, s.tests, s.failures, s.time])).toEqual([["doctor", "3", "1", "0.840"]]);
    const cases = suites[0]?.testcase ?? [];
    expect(cases.map((c) => c.name)).toEqual([
      "cp-east-1 ssh",
      "cp-east-1 disk",
      "cp-east-1 registry registry.example.com:8443",
    ]);
    expect(cases[1]?.failure).toBeUndefined();
    expect(cases[1]?.["system-out"]).toBe("warn: 3.9 GiB free\nhint: free some space");
    expect(cases[2]?.failure).toMatchObject({
      type: "REGISTRY_UNTRUSTED_CA",
      message: "REGISTRY_UNTRUSTED_CA: x509: unknown authority",
      "#text": "x509: unknown authority\nhint: pass --registry-ca FILE",
    });
  });
});
