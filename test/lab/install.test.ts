/**
 * `install` end to end: the built binary against the lab's proxies (real sshd and dockerd), its
 * registry, and the VCF Operations simulator's Suite API and CaSA. Each test resets the CaSA of
 * its simulated deployment and sets its switches (busy, a failing install, 403) through
 * `/_sim/casa/<instance>`, then reads what the simulator saw (uploads, installs, their options).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SimCasaSeen, SimCasaSwitches } from "../../scripts/ops-simulator.js";
import { runCli, type CliRun } from "./cli.js";
import { clearImages, engineOf, loadLab, registryEnv, repoDigests, sshdLog, type Lab } from "./lab.js";
import { loadOpsLab, type OpsLab } from "./ops-lab.js";

let lab: Lab;
let ops: OpsLab;
beforeAll(() => {
  lab = loadLab();
  ops = loadOpsLab(lab);
});

function casa(instance: string, switches?: SimCasaSwitches): SimCasaSeen {
  const args = ["-sf", "--cacert", lab.caFile, `${ops.url}/_sim/casa/${instance}`];
  if (switches) args.push("-X", "POST", "-d", JSON.stringify(switches));
  return JSON.parse(execFileSync("curl", args, { encoding: "utf8" })) as SimCasaSeen;
}

interface InstallDoc {
  command: string;
  proxies: { name: string; status: string }[];
  coverage?: { ready: boolean };
  install: {
    outcome: string;
    ready: boolean;
    notReady: { group: string; lacking: string[] }[];
    paks: {
      pakId: string | null;
      states: string[];
      outcome: string;
      words?: string;
      error?: { code: string };
    }[];
    kinds?: { known: string[]; missing: string[] };
    runningNote?: string;
  };
}

const targets = (instance: string) => [
  "--ops",
  `${ops.url}/${instance}`,
  "--ssh-config",
  ops.sshConfig,
  "--known-hosts",
  lab.knownHosts,
];

async function install(instance: string, ...extra: string[]): Promise<CliRun & { doc?: InstallDoc }> {
  const run = await runCli(["install", lab.paks.sample, ...targets(instance), ...extra], {
    env: { ...ops.env, ...registryEnv(lab) },
  });
  const secrets = [
    ops.password,
    lab.registryPassword,
    Buffer.from(`${ops.user}:${ops.password}`).toString("base64"),
  ];
  for (const secret of secrets) expect(run.stdout + run.stderr).not.toContain(secret);
  let doc: InstallDoc | undefined;
  try {
    doc = extra.includes("--json") ? (JSON.parse(run.stdout) as InstallDoc) : undefined;
  } catch {
    doc = undefined;
  }
  return { ...run, doc };
}

describe("install against the lab", () => {
  beforeEach(async () => {
    for (const instance of ["install", "half"])
      casa(instance, { reset: true, candidateMs: 300, progressMs: 800 });
    for (const proxy of [1, 2]) await clearImages(lab, proxy);
  });
  afterAll(async () => {
    for (const proxy of [1, 2]) await clearImages(lab, proxy);
  });

  it("a half-covered collector group: exit 1 naming the group and the member, and nothing uploaded", async () => {
    const run = await install("half", "--json");
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(
      /INSTALL_NOT_READY: nothing uploaded to VCF Operations [^\n]*half-group \(cp-gone\)/,
    );
    expect(run.doc?.install).toMatchObject({ outcome: "not-ready", ready: false, paks: [] });
    expect(run.doc?.install.notReady).toEqual([{ group: "half-group", lacking: ["cp-gone"], unchecked: [] }]);
    // The member that could be reached got the image all the same; the install did not start.
    expect(run.doc?.proxies.map((p) => [p.name, p.status])).toEqual([
      ["cp-east-1", "pulled"],
      ["cp-gone", "failed"],
    ]);
    expect(casa("half").uploads).toEqual([]);
    expect(casa("half").installs).toEqual([]);
  });

  it("every member covered: upload, install, COMPLETED, the kind known, exit 0", async () => {
    // In progress for longer than a poll (2 s): the state is seen on its way.
    casa("install", { progressMs: 2500 });
    const junit = join(mkdtempSync(join(tmpdir(), "install-junit-")), "install.xml");
    const run = await install("install", "--json", "--junit", junit);
    expect(run.code, run.stderr).toBe(0);
    for (const proxy of [1, 2]) expect(await repoDigests(lab, proxy)).toContain(lab.sampleReference);
    expect(run.doc?.command).toBe("install");
    expect(run.doc?.coverage).toMatchObject({ ready: true });
    expect(run.doc?.install.outcome).toBe("installed");
    expect(run.doc?.install.paks).toMatchObject([
      {
        pakId: "LabAdapter-100",
        states: ["CANDIDATE", "INSTALL_IN_PROGRESS", "COMPLETED"],
        outcome: "completed",
      },
    ]);
    expect(run.doc?.install.kinds).toEqual({ known: ["LabAdapter"], missing: [] });
    // lab-east exists already (an upgrade): its proxy is checked, and runs no container of the image yet.
    expect(run.doc?.install).toMatchObject({
      running: {
        ok: false,
        rows: expect.arrayContaining([
          expect.objectContaining({ instance: "lab-east", verdict: "none" }),
        ]) as unknown,
      },
    });
    const seen = casa("install");
    expect(seen.uploads).toMatchObject([{ advice: "STANDARD", filename: "sample.pak", refused: null }]);
    expect(seen.installs).toEqual([{ pakId: "LabAdapter-100", forceContentUpdate: false }]);
    const xml = readFileSync(junit, "utf8");
    expect(xml).toMatch(/<testsuite name="install" tests="1" failures="0"/);
    expect(xml).toMatch(/<testcase classname="install" name="sample\.pak"/);
    expect(xml).toMatch(/states: CANDIDATE → INSTALL_IN_PROGRESS → COMPLETED/);
    // The progress went to stderr, stdout is the document alone.
    expect(run.stderr).toMatch(/install sample\.pak: COMPLETED/);
  });

  it("the same version again: refused with a clear error; with --force, CLOBBER and force_content_update", async () => {
    expect((await install("install")).code).toBe(0);
    const refused = await install("install");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /CASA_PAK_NOT_NEWER: VCF Operations [^\n]*this version, or a newer one, of the pak is installed already \(upgrade\.pak\.upload_version_older_or_same\)\n\s+hint: [^\n]*--force/,
    );
    const forced = await install("install", "--force", "--json");
    expect(forced.code, forced.stderr).toBe(0);
    const seen = casa("install");
    expect(seen.uploads.map((u) => [u.advice, u.refused])).toEqual([
      ["STANDARD", null],
      ["STANDARD", "upgrade.pak.upload_version_older_or_same"],
      ["CLOBBER", null],
    ]);
    expect(seen.installs.map((i) => i.forceContentUpdate)).toEqual([false, true]);
  });

  it("an earlier upload never installed: CASA_PAK_PENDING, with its own hint", async () => {
    casa("install", { refuseWith: "upgrade.pak.history_present" });
    const run = await install("install");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/CASA_PAK_PENDING: [^\n]*never installed[^\n]*\n\s+hint: [^\n]*--force/);
    expect(casa("install").installs).toEqual([]);
  });

  it("a busy VCF Operations: waits for the other activity, then installs", async () => {
    casa("install", { busyMs: 3000 });
    const run = await install("install");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /install sample\.pak: waiting: VCF Operations is busy with OtherVendorPack-900/,
    );
    expect(run.stderr).toMatch(/install sample\.pak: COMPLETED/);
    expect(casa("install").installs).toHaveLength(1);
  });

  it("a failed install: exit 1 with the server's words", async () => {
    casa("install", {
      failWith: { state: "FAILED", words: "Adapter LabAdapter: describe.xml is not valid" },
    });
    const run = await install("install", "--json");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /INSTALL_FAILED: VCF Operations [^\n]*the install of "LabAdapter-100" ended FAILED: Adapter LabAdapter: describe\.xml is not valid/,
    );
    expect(run.doc?.install.paks[0]).toMatchObject({
      outcome: "failed",
      words: "Adapter LabAdapter: describe.xml is not valid",
      error: { code: "INSTALL_FAILED" },
    });
  });

  it.each([401, 403])(
    "CaSA answers %i: exit 2, installing needs an admin account, before any SSH or upload",
    async (status) => {
      casa("install", { status });
      const before = await Promise.all([1, 2].map(async (p) => (await sshdLog(lab, p)).length));
      const run = await install("install");
      casa("install", { status: null });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/CASA_FORBIDDEN: [^\n]*installing needs an admin account/);
      expect(await Promise.all([1, 2].map(async (p) => (await sshdLog(lab, p)).length))).toEqual(before);
      expect(casa("install").uploads).toEqual([]);
    },
  );

  it("a first install (no instance yet): --collector-group, installed, and the running check says why it waits", async () => {
    casa("first", { reset: true, candidateMs: 300, progressMs: 800 });
    const bare = await install("first");
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/OPS_NO_INSTANCES/);
    const run = await install("first", "--collector-group", "east-group");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/installed sample\.pak/);
    expect(run.stdout).toMatch(
      /no adapter instance of the pak's kinds exists yet[^\n]*once one is created, mp-sideload verify --running checks its containers/,
    );
  });

  it("Ctrl-C during the install: exit 130, and it says the install goes on in VCF Operations and how to watch it", async () => {
    // In progress far longer than the run: the signal (after 8 s) finds it polling.
    casa("install", { progressMs: 90_000 });
    const run = await runCli(["install", lab.paks.sample, ...targets("install")], {
      env: { ...ops.env, ...registryEnv(lab) },
      signal: "SIGINT",
      afterMs: 8000,
    });
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/install sample\.pak: INSTALL_IN_PROGRESS/);
    expect(run.stderr).toMatch(
      /the install of sample\.pak \(pak id LabAdapter-100\) goes on in VCF Operations [^\n]*Integrations > Repository[^\n]*casa\/upgrade\/cluster\/pak\/LabAdapter-100\/status/,
    );
    expect(run.stdout + run.stderr).not.toContain(ops.password);
    casa("install", { reset: true });
  });

  it("--dry-run: the sideloads, the upload and the install, and nothing done", async () => {
    const run = await install("install", "--dry-run");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/dry run: install would do this, and nothing has been done/);
    expect(run.stdout).toMatch(
      /upload sample\.pak \(LabAdapter 1\.0\.0\) to VCF Operations [^\n]*pak_handling_advice=STANDARD/,
    );
    expect(run.stdout).toMatch(
      /install it \(force_content_update=false\) and wait for COMPLETED, at most 30 min/,
    );
    expect(casa("install").uploads).toEqual([]);
    for (const proxy of [1, 2]) expect(await repoDigests(lab, proxy)).not.toContain(lab.sampleReference);
  });

  it("--relay --dry-run: the sideloads go through the relay, and nothing done", async () => {
    const run = await install("install", "--relay", "--dry-run");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /the relay: a marked \/etc\/hosts line maps the registry's host to 127\.0\.0\.1/,
    );
    // The relay instead of the proxy's login: no credential goes to the proxy.
    expect(run.stdout).not.toMatch(/check the registry credentials from the proxy/);
    expect(run.stdout).toMatch(/upload sample\.pak/);
    expect(casa("install").uploads).toEqual([]);
  });
});

describe("verify --running on the lab's engines", () => {
  const created: string[] = [];
  afterAll(async () => {
    const engine = engineOf(lab, 1);
    for (const id of created) await engine.getContainer(id).remove({ force: true });
    for (const proxy of [1, 2]) await clearImages(lab, proxy);
  });

  /** A container of the lab's test image on proxy 1, running the host's own binaries (the image has none). */
  async function container(name: string, cmd: string[]): Promise<void> {
    const c = await engineOf(lab, 1).createContainer({
      name,
      Image: lab.sampleReference,
      Cmd: cmd,
      HostConfig: { NetworkMode: "none", Binds: ["/usr:/usr:ro", "/lib:/lib:ro", "/lib64:/lib64:ro"] },
    });
    created.push(c.id);
    await c.start();
  }

  it("sees a running container and an exited one (its code and last log lines), never a password", async () => {
    const pulled = await runCli(["pull", lab.paks.sample, ...targets("install")], {
      env: { ...ops.env, ...registryEnv(lab) },
    });
    expect(pulled.code, pulled.stderr).toBe(0);
    await container("lab-east-running", ["/usr/bin/sleep", "600"]);
    const lines = Array.from({ length: 25 }, (_, i) => `echo line-${i + 1}`).join("; ");
    await container("lab-east-exited", [
      "/usr/bin/sh",
      "-c",
      `${lines}; echo password=${ops.password}; exit 3`,
    ]);
    await engineOf(lab, 1)
      .getContainer(created[1] ?? "")
      .wait();
    const run = await runCli(["verify", lab.paks.sample, ...targets("install"), "--running", "--json"], {
      env: ops.env,
    });
    expect(run.stdout + run.stderr).not.toContain(ops.password);
    const doc = JSON.parse(run.stdout) as {
      running: {
        ok: boolean;
        rows: {
          instance: string;
          collector?: string;
          verdict: string;
          note?: string;
          containers: { name: string; state: string; exitCode?: number; logs?: string[] }[];
        }[];
      };
    };
    const east = doc.running.rows.find((r) => r.instance === "lab-east");
    expect(east).toMatchObject({ collector: "cp-east-1", verdict: "running" });
    const byName = new Map(east?.containers.map((c) => [c.name, c]));
    expect(byName.get("lab-east-running")).toMatchObject({ state: "running" });
    expect(byName.get("lab-east-running")?.logs).toBeUndefined();
    const exited = byName.get("lab-east-exited");
    expect(exited).toMatchObject({ state: "exited", exitCode: 3 });
    expect(exited?.logs).toHaveLength(20);
    expect(exited?.logs?.[0]).toBe("line-7");
    expect(exited?.logs?.at(-1)).toBe("password=***");
    // The instance on the analytics node is reported, not checked.
    expect(doc.running.rows.find((r) => r.instance === "lab-on-node")).toMatchObject({
      verdict: "not-checked",
    });
    expect(run.code, run.stderr).toBe(0);
    const human = await runCli(["verify", lab.paks.sample, ...targets("install"), "--running"], {
      env: ops.env,
    });
    expect(human.stdout).toMatch(/lab-east \(LabAdapter\) on cp-east-1: running/);
    expect(human.stdout).toMatch(/lab-east-exited: exited \([^\n]*, exit code 3\)\n\s+\| line-7\n/);
    expect(human.stdout).not.toContain(ops.password);
  });

  it("--running without --ops is a usage error", async () => {
    const run = await runCli(["verify", lab.paks.sample, "--proxy", "127.0.0.1", "--running"], { env: {} });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/USAGE: --running is an option of verify --ops/);
  });
});
