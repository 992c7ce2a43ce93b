/**
 * The defects found by trying the tool as an unlucky operator and as an attacker would: a hung
 * engine (a paused dockerd, a socket that never answers), known_hosts without a final newline,
 * and proxy names carrying terminal escapes. Against the lab's real sshd and engines.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli, type JsonReport } from "./cli.js";
import { labCtl, loadLab, proxyAddress, inventoryArgs, type Lab, registryEnv } from "./lab.js";

let lab: Lab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-hardening-"));
  await chmod(scratch, 0o755);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function statuses(report: JsonReport): [string, string, string | undefined][] {
  return report.proxies.map((p) => [p.name, p.status, p.error?.code]);
}

describe("a paused dockerd (SIGSTOP) on one of three proxies", () => {
  const targetsJson = () => [...inventoryArgs(lab), "--json"];

  it.each(["verify", "pull"] as const)(
    "%s --timeout 5 ends within the timeout plus a second, with TIMEOUT there and the others reported",
    async (command) => {
      const reportFile = join(scratch, `paused-${command}.json`);
      await labCtl("pause-engine", "2");
      let run;
      try {
        run = await runCli(
          [command, lab.paks.sample, ...targetsJson(), "--timeout", "5", "--report", reportFile],
          {
            env: registryEnv(lab),
          },
        );
      } finally {
        await labCtl("resume-engine", "2");
      }
      expect(run.ms).toBeLessThan(6000);
      expect(run.code, run.stderr).toBe(1);
      const report = parseReport(run);
      const rows = statuses(report);
      expect(rows[1]).toEqual(["proxy-2", "failed", "TIMEOUT"]);
      for (const row of [rows[0], rows[2]])
        expect(row?.[1]).toMatch(command === "pull" ? /pulled|present/ : /present|missing/);
      expect(JSON.parse(await readFile(reportFile, "utf8"))).toEqual(report);
    },
  );

  it("SIGINT during the wait ends the run at once: 130, INTERRUPTED there, the others reported, the report written", async () => {
    const reportFile = join(scratch, "paused-sigint.json");
    await labCtl("pause-engine", "2");
    let run;
    try {
      run = await runCli(
        ["verify", lab.paks.sample, ...targetsJson(), "--timeout", "60", "--report", reportFile],
        {
          signal: "SIGINT",
          afterMs: 3000,
        },
      );
    } finally {
      await labCtl("resume-engine", "2");
    }
    expect(run.code, run.stderr).toBe(130);
    expect(run.signalledAt).toBeLessThan(1000);
    const rows = statuses(parseReport(run));
    expect(rows[1]).toEqual(["proxy-2", "failed", "INTERRUPTED"]);
    for (const row of [rows[0], rows[2]]) expect(row?.[1]).toMatch(/present|missing/);
    expect(JSON.parse(await readFile(reportFile, "utf8"))).toEqual(parseReport(run));
  });
});

describe("an engine socket that accepts and never answers", () => {
  let silent: http.Server;
  let versionOnly: http.Server;
  const silentSocket = () => join(scratch, "silent.sock");
  const versionSocket = () => join(scratch, "version-only.sock");

  beforeAll(async () => {
    // Accepts connections and reads requests, never answers any.
    silent = http.createServer(() => undefined);
    // Answers GET /version like an engine, then never answers anything else.
    versionOnly = http.createServer((request, response) => {
      if (request.url?.endsWith("/version")) {
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify({ Version: "27.0.0", ApiVersion: "1.47" }));
      }
    });
    await new Promise<void>((r) => silent.listen(silentSocket(), r));
    await new Promise<void>((r) => versionOnly.listen(versionSocket(), r));
  });

  afterAll(() => {
    silent.closeAllConnections();
    versionOnly.closeAllConnections();
    silent.close();
    versionOnly.close();
  });

  /** proxy-1 with the given engine socket, proxy-2 and proxy-3 as they are. */
  async function inventory(socket: string): Promise<string> {
    const file = join(scratch, `inventory-${Math.random().toString(36).slice(2)}.yaml`);
    const lines = [`defaults:`, `  user: root`, `  identity: ${lab.identity}`, `proxies:`];
    for (let p = 1; p <= 3; p++) {
      lines.push(`  - name: proxy-${p}`, `    host: 127.0.0.1`, `    port: ${lab.firstSshPort + p - 1}`);
      if (p === 1) lines.push(`    dockerSocket: ${socket}`);
    }
    await writeFile(file, `${lines.join("\n")}\n`);
    return file;
  }

  it.each([
    ["verify", "before /version", "engine"],
    ["verify", "after /version", "present"],
    ["pull", "before /version", "engine"],
    ["pull", "after /version", "present"],
  ] as const)(
    "%s with a socket silent %s: TIMEOUT in step %s within the timeout plus a second",
    async (command, when, step) => {
      const socket = when === "before /version" ? silentSocket() : versionSocket();
      const reportFile = join(scratch, `silent-${command}-${step}.json`);
      const run = await runCli(
        [
          command,
          lab.paks.sample,
          "--inventory",
          await inventory(socket),
          "--known-hosts",
          lab.knownHosts,
          "--json",
          "--timeout",
          "4",
          "--report",
          reportFile,
        ],
        { env: registryEnv(lab) },
      );
      expect(run.ms).toBeLessThan(5000);
      expect(run.code, run.stderr).toBe(1);
      const report = parseReport(run);
      expect(report.proxies[0]?.error?.code).toBe("TIMEOUT");
      expect(report.proxies[0]?.failedStep).toBe(step);
      expect(report.proxies.slice(1).map((p) => p.error?.code)).toEqual([undefined, undefined]);
      expect(JSON.parse(await readFile(reportFile, "utf8"))).toEqual(report);
    },
  );

  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const)(
    "%s while the socket is silent exits %i at once, reports and writes the report",
    async (signal, status) => {
      const reportFile = join(scratch, `silent-${signal}.json`);
      const run = await runCli(
        [
          "pull",
          lab.paks.sample,
          "--inventory",
          await inventory(versionSocket()),
          "--known-hosts",
          lab.knownHosts,
          "--json",
          "--report",
          reportFile,
        ],
        { env: registryEnv(lab), signal, afterMs: 3000 },
      );
      expect(run.code, run.stderr).toBe(status);
      expect(run.signalledAt).toBeLessThan(1000);
      const report = parseReport(run);
      expect(report.proxies[0]?.error?.code).toBe("INTERRUPTED");
      expect(report.proxies[0]?.error?.message).toContain(signal);
      expect(JSON.parse(await readFile(reportFile, "utf8"))).toEqual(report);
    },
  );
});

describe("known_hosts without a final newline", () => {
  it("gains the new key on a line of its own, keeps every earlier line and its mode", async () => {
    const original = await readFile(lab.knownHosts, "utf8");
    const lines = original.trim().split("\n");
    const third = `[127.0.0.1]:${lab.firstSshPort + 2}`;
    const earlier = [`# kept: a comment`, ...lines.filter((l) => !l.startsWith(third))];
    const file = join(scratch, "known_hosts_no_newline");
    await writeFile(file, earlier.join("\n")); // no final newline
    await chmod(file, 0o640);

    const accept = await runCli([
      "verify",
      lab.paks.sample,
      "--proxy",
      `root@${proxyAddress(lab, 3)}`,
      "--identity",
      lab.identity,
      "--known-hosts",
      file,
      "--accept-new-host-keys",
      "--json",
    ]);
    expect(parseReport(accept).proxies[0]?.error?.code).toBeUndefined();

    const after = await readFile(file, "utf8");
    expect(after.endsWith("\n")).toBe(true);
    const afterLines = after.trimEnd().split("\n");
    expect(afterLines.slice(0, earlier.length)).toEqual(earlier);
    expect(afterLines).toHaveLength(earlier.length + 1);
    expect(afterLines.at(-1)).toMatch(
      new RegExp(`^\\[127\\.0\\.0\\.1\\]:${lab.firstSshPort + 2} ssh-ed25519 `),
    );
    expect((await stat(file)).mode & 0o777).toBe(0o640);

    // The next run, without accepting anything, knows all three proxies.
    const again = await runCli([
      "verify",
      lab.paks.sample,
      "--inventory",
      lab.inventory,
      "--known-hosts",
      file,
      "--json",
    ]);
    expect(parseReport(again).proxies.map((p) => p.error?.code)).toEqual([undefined, undefined, undefined]);
  });
});

describe("proxy names with terminal escapes", () => {
  it("never reach stdout or stderr raw, in any output mode", async () => {
    const file = join(scratch, "evil.yaml");
    await writeFile(
      file,
      [
        "proxies:",
        `  - name: "ev\\e[2J\\e[31mil\\nFAKE LINE\\u009b1m\\u202e"`,
        "    host: 127.0.0.1",
        `    port: ${lab.firstSshPort}`,
        "    user: root",
        `    identity: ${lab.identity}`,
        "",
      ].join("\n"),
    );
    const base = ["verify", lab.paks.sample, "--inventory", file, "--known-hosts", lab.knownHosts];
    for (const extra of [[], ["--json"], ["--dry-run"], ["--debug"], ["--limit", "nothing*"]]) {
      const run = await runCli([...base, ...extra]);
      for (const stream of [run.stdout, run.stderr]) {
        // eslint-disable-next-line no-control-regex
        expect(stream).not.toMatch(/[\u001b\u009b\u202e]/);
        expect(stream).not.toMatch(/^FAKE LINE/m);
      }
      if (extra.length === 0) expect(run.stdout).toContain("ev\\u001b[2J");
    }
    // In the JSON document the name is exact: escaped JSON, the same string once parsed.
    const json = await runCli([...base, "--json"]);
    expect(parseReport(json).proxies[0]?.name).toBe("ev\u001b[2J\u001b[31mil\nFAKE LINE\u009b1m\u202e");
  });
});
