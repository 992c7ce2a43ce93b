/**
 * `prune` on the lab's real engines: three older builds of the sample's repository on proxy-1,
 * one of them used by a stopped container, the current sample and an image of another
 * repository beside them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tmuxTerminal } from "../support/tmux.js";
import { runCli } from "./cli.js";
import { bin, clearImages, engineOf, labCtl, loadLab, proxyAddress, pullDirect, type Lab } from "./lab.js";

let lab: Lab;
let old: string[];
const label = "mp-sideload-prune-test";

interface PruneJson {
  command: string;
  keep: number;
  dryRun: boolean;
  proxies: {
    name: string;
    status: string;
    bytesFreed: number;
    removed: { id: string; names: string[]; size: number; deleted: boolean; untagOnly: boolean }[];
    kept: { id: string; reason: string }[];
    error?: { code: string };
  }[];
  summary: { removed: number; bytesFreed: number; failed: number };
}

const oldRef = (i: number) => `${lab.registry}/mp/test-adapter@${old[i]}`;
const auth = () => ({
  username: lab.registryUser,
  password: lab.registryPassword,
  serveraddress: lab.registry,
});
const target = () => [
  "--proxy",
  `root@${proxyAddress(lab, 1)}`,
  "--known-hosts",
  lab.knownHosts,
  "--identity",
  lab.identity,
];

async function removeTestContainers(): Promise<void> {
  const engine = engineOf(lab, 1);
  for (const c of await engine.listContainers({ all: true, filters: { label: [label] } })) {
    await engine.getContainer(c.Id).remove({ force: true });
  }
}

/** The sample, the second adapter and the three old builds on proxy-1; the middle one used by a stopped container. */
async function setUp(): Promise<void> {
  await removeTestContainers();
  await clearImages(lab, 1);
  const engine = engineOf(lab, 1);
  for (const ref of [lab.sampleReference, lab.secondReference, oldRef(0), oldRef(1), oldRef(2)]) {
    await pullDirect(engine, ref, auth());
  }
  await engine.createContainer({ Image: oldRef(1), Labels: { [label]: "1" } });
}

async function imageIdOf(ref: string): Promise<string> {
  return (await engineOf(lab, 1).getImage(ref).inspect()).Id;
}

async function allIds(): Promise<Set<string>> {
  return new Set((await engineOf(lab, 1).listImages()).map((i) => i.Id));
}

function parse(run: { stdout: string; stderr: string; code: number | null }): PruneJson {
  try {
    return JSON.parse(run.stdout) as PruneJson;
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

beforeAll(async () => {
  lab = loadLab();
  old = (await labCtl("old-digests", "3")).trim().split("\n");
  expect(old).toHaveLength(3);
}, 120_000);

afterAll(async () => {
  await removeTestContainers();
});

describe("prune", () => {
  beforeEach(setUp, 60_000);

  it("--keep 0 removes exactly the two unused old builds, reports the bytes freed; a second run removes nothing", async () => {
    const [id0, id1, id2, sample, second] = await Promise.all(
      [oldRef(0), oldRef(1), oldRef(2), lab.sampleReference, lab.secondReference].map(imageIdOf),
    );
    const sizes = new Map((await engineOf(lab, 1).listImages()).map((i) => [i.Id, i.Size]));
    const run = await runCli(["prune", lab.paks.sample, ...target(), "--keep", "0", "--yes", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const report = parse(run);
    const row = report.proxies[0];
    expect(row?.status).toBe("pruned");
    expect(row?.removed.map((r) => r.id).sort()).toEqual([id0, id2].sort());
    expect(row?.removed.every((r) => r.deleted && !r.untagOnly)).toBe(true);
    const freed = (sizes.get(id0 ?? "") ?? 0) + (sizes.get(id2 ?? "") ?? 0);
    expect(freed).toBeGreaterThan(0);
    expect(row?.bytesFreed).toBe(freed);
    expect(report.summary).toMatchObject({ removed: 2, bytesFreed: freed, failed: 0 });
    expect(row?.kept).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: sample, reason: "current" }),
        expect.objectContaining({ id: id1, reason: "in-use" }),
      ]),
    );
    // The engine's real state: the used build, the current sample and the other repository stay.
    const left = await allIds();
    expect([...left].sort()).toEqual([id1, sample, second].sort());

    const again = await runCli(["prune", lab.paks.sample, ...target(), "--keep", "0", "--yes", "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(parse(again).proxies[0]).toMatchObject({ status: "nothing", removed: [], bytesFreed: 0 });
    expect(await allIds()).toEqual(left);
  });

  it("--keep 1 (the default) removes one: the oldest unused build; the human report says what was freed", async () => {
    const [id0, id2] = await Promise.all([oldRef(0), oldRef(2)].map(imageIdOf));
    const before = await allIds();
    const dry = await runCli(["prune", lab.paks.sample, ...target(), "--dry-run", "--json"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(parse(dry).proxies[0]?.removed.map((r) => r.id)).toEqual([id0]);
    expect(parse(dry).proxies[0]?.status).toBe("listed");
    expect(await allIds()).toEqual(before);

    const run = await runCli(["prune", lab.paks.sample, ...target(), "--keep", "1", "--yes"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/removed 1 image, freed \d+\.\d (KiB|MiB)/);
    expect(run.stdout).toContain(`removed ${oldRef(0)}`);
    const left = await allIds();
    expect(left.has(id0 ?? "")).toBe(false);
    expect(left.has(id2 ?? "")).toBe(true);
    expect(left.size).toBe(before.size - 1);
  });

  it("without a terminal and without --yes: refused with exit 2 and a hint; nothing removed", async () => {
    const before = await allIds();
    const run = await runCli(["prune", lab.paks.sample, ...target(), "--keep", "0"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^mp-sideload: CONFIRMATION_REQUIRED: .*\n {2}hint: add --yes/);
    expect(await allIds()).toEqual(before);
  });

  it("an old build also named in another repository: only this repository's names go, the image and its other name stay", async () => {
    const engine = engineOf(lab, 1);
    const id0 = await imageIdOf(oldRef(0));
    await engine.getImage(oldRef(0)).tag({ repo: "mp-lab/another-repo", tag: "keep-me" });
    const run = await runCli(["prune", lab.paks.sample, ...target(), "--keep", "0", "--yes", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const shared = parse(run).proxies[0]?.removed.find((r) => r.id === id0);
    expect(shared).toMatchObject({ untagOnly: true, deleted: false });
    const after = await engine.getImage(id0).inspect();
    expect(after.RepoTags).toEqual(["mp-lab/another-repo:keep-me"]);
    expect(after.RepoDigests.some((d) => d.includes("/mp/test-adapter@"))).toBe(false);
  });
});

describe("pull --prune", () => {
  beforeEach(setUp, 60_000);

  it("after the verify, the proxy's old builds go (not the used one, not the other repository's image); the row says what was freed", async () => {
    const [id0, id1, id2, sample, second] = await Promise.all(
      [oldRef(0), oldRef(1), oldRef(2), lab.sampleReference, lab.secondReference].map(imageIdOf),
    );
    const sizes = new Map((await engineOf(lab, 1).listImages()).map((i) => [i.Id, i.Size]));
    await engineOf(lab, 1).getImage(lab.sampleReference).remove();
    const run = await runCli(["pull", lab.paks.sample, ...target(), "--prune", "--keep", "0", "--json"], {
      env: {
        MP_SIDELOAD_REGISTRY_USER: lab.registryUser,
        MP_SIDELOAD_REGISTRY_PASSWORD: lab.registryPassword,
      },
    });
    expect(run.code, run.stderr).toBe(0);
    const row = (
      JSON.parse(run.stdout) as {
        proxies: {
          status: string;
          steps: { step: string }[];
          prune?: { removed: { id: string }[]; bytesFreed: number };
        }[];
      }
    ).proxies[0];
    expect(row?.status).toBe("pulled");
    expect(row?.steps.map((s) => s.step)).toContain("prune");
    expect(row?.prune?.removed.map((r) => r.id).sort()).toEqual([id0, id2].sort());
    expect(row?.prune?.bytesFreed).toBe((sizes.get(id0 ?? "") ?? 0) + (sizes.get(id2 ?? "") ?? 0));
    expect([...(await allIds())].sort()).toEqual([id1, sample, second].sort());
  });

  it("--prune is pull's: verify refuses it, and --keep without --prune is refused", async () => {
    const verify = await runCli(["verify", lab.paks.sample, ...target(), "--prune"]);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toMatch(/USAGE: verify changes nothing: --prune is an option of pull/);
    const keep = await runCli(["pull", lab.paks.sample, ...target(), "--keep", "2"]);
    expect(keep.code).toBe(2);
    expect(keep.stderr).toMatch(/USAGE: --keep goes with --prune/);
  });
});

describe("doctor's disk check", () => {
  it("names mp-sideload prune when old builds of the pak's repository are on a disk that is short of room, and not otherwise", async () => {
    await removeTestContainers();
    await labCtl("small-disk", "1", "48");
    try {
      const engine = engineOf(lab, 1);
      for (const ref of [lab.sampleReference, oldRef(0), oldRef(1)]) await pullDirect(engine, ref, auth());
      const doctor = async () => {
        const run = await runCli(["doctor", ...target(), "--pak", lab.paks.sample, "--json"]);
        const doc = JSON.parse(run.stdout) as {
          proxies: { checks: { check: string; verdict: string; detail: string; hint?: string }[] }[];
        };
        return doc.proxies[0]?.checks.find((c) => c.check === "disk");
      };
      const disk = await doctor();
      expect(disk?.verdict).toBe("fail");
      expect(disk?.detail).toMatch(/1 old image of the pak's repositories take \d+\.\d MiB/);
      expect(disk?.hint).toMatch(/mp-sideload prune PAK… --dry-run/);
      await engine.getImage(oldRef(0)).remove();
      const clean = await doctor();
      expect(clean?.verdict).toBe("fail");
      expect(clean?.hint).not.toMatch(/mp-sideload prune/);
    } finally {
      await labCtl("small-disk", "1", "off");
    }
  }, 120_000);
});

describe("prune in a terminal", () => {
  const { tmux, waitForScreen, stop, shutdown } = tmuxTerminal("prune-tty", "t");
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "mp-sideload-prune-tty-"));
  });
  afterAll(async () => {
    await stop();
    await shutdown();
    await rm(scratch, { recursive: true, force: true });
  });
  beforeEach(setUp, 60_000);

  it("lists what would go with sizes and asks; no leaves every image; yes removes exactly what was listed", async () => {
    const before = await allIds();
    const id0 = await imageIdOf(oldRef(0));
    const script = join(scratch, "prune.sh");
    const args = `prune '${lab.paks.sample}' --proxy 'root@${proxyAddress(lab, 1)}' --known-hosts '${lab.knownHosts}' --identity '${lab.identity}'`;
    await writeFile(
      script,
      `#!/bin/sh\nunset CI\n'${bin}' ${args}\necho "EXIT1=$?"\n'${bin}' ${args}\necho "EXIT2=$?"\nsleep 600\n`,
      { mode: 0o755 },
    );
    await tmux("new-session", "-d", "-s", "t", "-x", "220", "-y", "50", script);
    const asked = await waitForScreen(/Remove 1 image \(512\.0 KiB\) from 1 proxy\?/);
    expect(asked).toContain(`would remove ${oldRef(0)}`);
    await tmux("send-keys", "-t", "t", "n", "Enter");
    await waitForScreen(/EXIT1=0/);
    expect(await allIds()).toEqual(before);
    await waitForScreen(/Remove 1 image[\s\S]*EXIT1=0[\s\S]*Remove 1 image/);
    await tmux("send-keys", "-t", "t", "y", "Enter");
    const end = await waitForScreen(/EXIT2=\d+/, 60_000);
    expect(end).toMatch(/EXIT2=0/);
    expect(end).toMatch(/removed 1 image, freed 512\.0 KiB/);
    const after = await allIds();
    expect(after.has(id0)).toBe(false);
    expect(after.size).toBe(before.size - 1);
  });
});
