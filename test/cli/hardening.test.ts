/**
 * Hostile and unlucky input at the command line: reports for another pak or malformed, huge
 * inventories, YAML host ranges, non-regular files and non-decimal numbers. Each must exit 2
 * with a one-line error before any connection is opened.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { goodFixtures } from "../../scripts/fixture-catalogue.js";
import { captureTerminal } from "../support/terminal.js";

const fixtures = join(import.meta.dirname, "../../fixtures");
const bin = join(import.meta.dirname, "../../bin/mp-sideload");
const sample = join(fixtures, "sample.pak");
const sampleReference = goodFixtures.find((f) => f.file === "sample.pak")?.references[0] ?? "";
const otherReference = goodFixtures.find((f) => f.file === "two-adapters.pak")?.references[1] ?? "";

let scratch: string;
/** Counts every TCP connection made to it: a proxy that must never be contacted. */
let tripwire: net.Server;
let tripwirePort: number;
let connections = 0;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-cli-hardening-"));
  tripwire = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((r) => tripwire.listen(0, "127.0.0.1", r));
  tripwirePort = (tripwire.address() as net.AddressInfo).port;
});

afterAll(async () => {
  tripwire.close();
  await rm(scratch, { recursive: true, force: true });
});

async function run(args: string[]) {
  const t = captureTerminal();
  const code = await main(args, t.terminal);
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

function row(overrides: Record<string, unknown> = {}) {
  return {
    name: "cp-1",
    host: "127.0.0.1",
    port: tripwirePort,
    status: "failed",
    reference: sampleReference,
    durationMs: 1,
    steps: [],
    ...overrides,
  };
}

async function reportFile(doc: unknown): Promise<string> {
  const file = join(scratch, `report-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, typeof doc === "string" ? doc : JSON.stringify(doc));
  return file;
}

describe("--only-failed", () => {
  it("refuses a report written for other references (REPORT_MISMATCH), before any connection", async () => {
    const file = await reportFile({
      command: "pull",
      references: [otherReference],
      proxies: [row({ status: "pulled", reference: otherReference })],
      summary: { ok: 1, failed: 0, total: 1 },
    });
    const before = connections;
    const result = await run(["verify", sample, "--only-failed", file, "--known-hosts", "/dev/null"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^mp-sideload: REPORT_MISMATCH: .*is a report for .*not for/);
    expect(result.stderr.trim().split("\n")).toHaveLength(2);
    expect(connections).toBe(before);
  });

  it.each([
    ["null", "null"],
    ["a list", "[]"],
    ["no references", { proxies: [] }],
    ["a null row", { references: [sampleReference], proxies: [null] }],
    ["a port of 70000", { references: [sampleReference], proxies: [row({ port: 70000 })] }],
    ["a port as hex text", { references: [sampleReference], proxies: [row({ port: "0x16" })] }],
    [
      "a host that is an ssh option",
      { references: [sampleReference], proxies: [row({ host: "-oProxyCommand=touch /tmp/x" })] },
    ],
    ["an unknown status", { references: [sampleReference], proxies: [row({ status: "done" })] }],
    ["a name that is not a string", { references: [sampleReference], proxies: [row({ name: 7 })] }],
    ["not JSON", "{"],
  ])("refuses %s with REPORT_INVALID, exit 2, before any connection", async (_what, doc) => {
    const file = await reportFile(doc);
    const before = connections;
    const result = await run(["verify", sample, "--only-failed", file, "--known-hosts", "/dev/null"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^mp-sideload: REPORT_INVALID: /);
    expect(result.stderr).not.toMatch(/INTERNAL|at .*\.js/);
    expect(connections).toBe(before);
  });

  it("refuses a row for a reference that is not this pak's", async () => {
    const file = await reportFile({
      references: [sampleReference],
      proxies: [row({ reference: otherReference })],
    });
    const result = await run(["verify", sample, "--only-failed", file, "--known-hosts", "/dev/null"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/REPORT_MISMATCH/);
  });

  it("takes a matching report's unfinished proxies, and only those", async () => {
    const file = await reportFile({
      references: [sampleReference],
      proxies: [
        row({ name: "cp-1" }),
        row({ name: "cp-2", status: "pulled" }),
        row({ name: "cp-3", status: "missing", host: "::1", port: 2222 }),
      ],
    });
    const result = await run(["verify", sample, "--only-failed", file, "--dry-run", "--json"]);
    expect(result.code).toBe(0);
    const plan = (JSON.parse(result.stdout) as { plan: { name: string; host: string; port: number }[] }).plan;
    expect(plan.map((p) => [p.name, p.host, p.port])).toEqual([
      ["cp-1", "127.0.0.1", tripwirePort],
      ["cp-3", "::1", 2222],
    ]);
  });
});

describe("inventories", () => {
  it("refuses an Ansible YAML host range of more than 10,000 proxies", async () => {
    const file = join(scratch, "range.yaml");
    await writeFile(file, "all:\n  hosts:\n    cp[00001:20000]:\n      ansible_host: 10.0.0.5\n");
    const result = await run(["verify", sample, "--inventory", file, "--dry-run"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/INVENTORY_TOO_LARGE: range\.yaml: more than 10,000 proxies/);
  });

  it("refuses a 200,000-host INI with INVENTORY_TOO_LARGE, not a crash", async () => {
    const file = join(scratch, "huge.ini");
    const lines = ["[cloud_proxies]"];
    for (let i = 0; i < 200_000; i++)
      lines.push(`cp-${i} ansible_host=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    await writeFile(file, `${lines.join("\n")}\n`);
    const result = await promisify(execFile)(bin, ["verify", sample, "--inventory", file, "--dry-run"], {
      env: { PATH: process.env.PATH, CI: "true" },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 2 });
    expect((result as { stderr: string }).stderr).toMatch(
      /^mp-sideload: INVENTORY_TOO_LARGE: huge\.ini: more than 10,000 proxies/,
    );
  });

  it("refuses a 50 MB YAML inventory by its size, before parsing it", async () => {
    const file = join(scratch, "huge.yaml");
    const entry = "  - {name: cp-000000, host: 10.0.0.1, port: 22, groups: [east, west, north, south]}\n";
    await writeFile(file, `proxies:\n${entry.repeat(Math.ceil((50 * 1024 * 1024) / entry.length))}`);
    const started = Date.now();
    const result = await run(["verify", sample, "--inventory", file, "--dry-run"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^mp-sideload: INVENTORY_TOO_LARGE: .*huge\.yaml: the inventory is 52,4\d\d,\d\d\d bytes/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it.each([
    ["/dev/zero", /FILE_UNREADABLE: \/dev\/zero: the inventory is a device, not a regular file/],
    ["/", /INVENTORY_TOO_LARGE: \/: the inventory folder holds more than 1,000 files and folders/],
    ["/nonexistent/inv.yaml", /FILE_NOT_FOUND: .*: no such file \(ENOENT\)/],
  ])("names the cause for --inventory %s", async (path, message) => {
    const result = await run(["verify", sample, "--inventory", path, "--dry-run"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe("numbers and files", () => {
  it.each(["1e3", "0x10", " 8", "8.0", "+8"])(
    "--timeout %j is refused: decimal digits only",
    async (value) => {
      const result = await run(["verify", sample, "--proxy", "cp-1", "--timeout", value, "--dry-run"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/USAGE: --timeout .* is not a whole number/);
    },
  );

  it("inspect refuses a named pipe at once (opening it would block), exit 2", async () => {
    const fifo = join(scratch, "pipe.pak");
    await promisify(execFile)("mkfifo", [fifo]);
    const started = Date.now();
    const result = await promisify(execFile)(bin, ["inspect", fifo], {
      env: { PATH: process.env.PATH, CI: "true" },
      timeout: 10_000,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 2 });
    expect((result as { stderr: string }).stderr).toMatch(
      /FILE_UNREADABLE: .*pipe\.pak: the pak is a named pipe, not a regular file/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("prints IPv6 targets as OpenSSH does, [::1]:2222", async () => {
    const result = await run(["verify", sample, "--proxy", "[::1]:2222", "--dry-run"]);
    expect(result.stdout).toMatch(/^ {2}\[::1\]:2222 {2}root@\[::1\]:2222 /m);
    const verbose = await run(["verify", sample, "--proxy", "[::1]:2222", "--dry-run", "--verbose"]);
    expect(verbose.stdout).toContain("[::1]:2222: you → [::1]:2222");
    expect(verbose.stdout).toContain("root@[::1]:2222 over SSH");
  });
});
