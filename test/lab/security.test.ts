/**
 * Secrets stay secret: during real pulls the registry and SSH passwords are in no process's
 * command line on this machine (which is also every lab proxy), in no output, report or
 * --debug line, and nothing on the proxies holds them afterwards.
 */
import { readFile, readdir, rm, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli, type CliRun } from "./cli.js";
import { runWhileSampling } from "./cmdlines.js";
import { clearImages, labDir, loadLab, proxyAddress, inventoryArgs, type Lab } from "./lab.js";

let lab: Lab;
let scratch: string;

/** Every file under `dir` (not following links) whose bytes contain any needle. */
async function filesContaining(dir: string, needles: string[]): Promise<string[]> {
  const found: string[] = [];
  const bytes = needles.map((n) => Buffer.from(n));
  const walk = async (path: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const data = await readFile(full).catch(() => Buffer.alloc(0));
        if (bytes.some((b) => data.includes(b))) found.push(full);
      }
    }
  };
  await walk(dir);
  return found;
}

function expectNoSecret(run: CliRun, secrets: string[]): void {
  for (const secret of secrets) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
}

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-secrets-"));
  for (let p = 1; p <= lab.proxies; p++) await clearImages(lab, p);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("secrets", () => {
  it("the registry password is in no command line, output, report or file during and after a pull", async () => {
    const password = lab.registryPassword;
    const needles = [password, Buffer.from(password).toString("base64")];
    const report = join(scratch, "report.json");
    const dockerConfigs = ["/root/.docker/config.json", `/home/${lab.passwordUser}/.docker/config.json`];
    const before = await Promise.all(dockerConfigs.map((f) => readFile(f, "utf8").catch(() => "absent")));

    const { run, hits, samples } = await runWhileSampling(
      [
        "pull",
        lab.paks.sample,
        ...inventoryArgs(lab),
        "--registry-user",
        lab.registryUser,
        "--registry-password-stdin",
        "--debug",
        "--report",
        report,
      ],
      { stdin: `${password}\n` },
      needles,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/3 ok, 0 failed/);
    expect(samples).toBeGreaterThan(5);
    expect(hits).toEqual([]);
    expectNoSecret(run, needles);
    expect(run.stderr).toContain("debug:"); // --debug really printed events
    expect(await readFile(report, "utf8")).not.toContain(password);
    // Nothing on the proxies holds it: no docker CLI config written, nothing in the engines' state.
    expect(await Promise.all(dockerConfigs.map((f) => readFile(f, "utf8").catch(() => "absent")))).toEqual(
      before,
    );
    expect(await filesContaining(join(labDir, "proxies"), needles)).toEqual([]);
    expect(await filesContaining(lab.run, needles)).toEqual([]);
  });

  it.each([
    ["the workstation's registry check", [], 2],
    ["the proxies' engines", ["--no-registry-check"], 1],
  ])(
    "a wrong registry password refused by %s is not echoed by any error, even with --debug",
    async (_by, extra, status) => {
      for (let p = 1; p <= lab.proxies; p++) await clearImages(lab, p);
      const wrong = "Wr0ng-pa55word-that-must-not-leak";
      const run = await runCli(
        [
          "pull",
          lab.paks.sample,
          ...inventoryArgs(lab),
          "--limit",
          "proxy-1",
          "--registry-user",
          lab.registryUser,
          "--registry-password-stdin",
          "--debug",
          ...extra,
        ],
        { stdin: wrong },
      );
      expect(run.code).toBe(status);
      expect(run.stdout + run.stderr).toContain("REGISTRY_UNAUTHORIZED");
      expectNoSecret(run, [
        wrong,
        Buffer.from(wrong).toString("base64"),
        Buffer.from(`${lab.registryUser}:${wrong}`).toString("base64"),
      ]);
    },
  );

  it("the SSH password is in no command line or output, with --json and --debug", async () => {
    const password = lab.sshPassword;
    const { run, hits } = await runWhileSampling(
      [
        "verify",
        lab.paks.sample,
        "--proxy",
        `${lab.passwordUser}@${proxyAddress(lab, 1)}`,
        "--known-hosts",
        lab.knownHosts,
        "--json",
        "--debug",
      ],
      { env: { MP_SIDELOAD_SSH_PASSWORD: password } },
      [password],
    );
    expect(run.code).toBe(1); // proxy-1 was cleared above: the image is missing
    expect(parseReport(run).proxies[0]?.status).toBe("missing");
    expect(hits).toEqual([]);
    expectNoSecret(run, [password]);
  });
});
