/**
 * The other paths of `pull --relay` (issue 24) on the lab's isolated proxies
 * (`scripts/lab.sh isolated up 2`): `--relay auto` on an inventory that mixes a proxy that
 * reaches the registry with one that cannot, Ctrl-C once a relayed pull is under way, and
 * several paks in one relayed run. Real engines, real sshd, the registry's own log.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseReport, runCli } from "./cli.js";
import { bin, clearImages, engineOf, labCtl, loadLab, pullDirect, registryEnv, type Lab } from "./lab.js";
import { blobGets as blobGetsOf, isolatedProxies, startIsolated } from "./isolated.js";

let lab: Lab;
let scratch: string;
let isolatedTargets: string[];
let bigPak: string;
let iso: ReturnType<typeof isolatedProxies>;
const hostsOf = (j: number) => iso.hostsOf(j);
const originalHostsOf = (j: number) => iso.originalHostsOf(j);
const isoEngine = (j: number) => iso.engine(j);
const clearIsolated = (j: number) => iso.clear(j);
const blobGets = () => blobGetsOf(lab);

/** The image row of the JSON report, with the relay's fields. */
interface RelayRow {
  name: string;
  status: string;
  reference: string;
  via?: string;
  relayReason?: string;
}

/** The blobs fetched from the registry since `before`, each with how many times. */
async function fetchedSince(before: Map<string, number>): Promise<[string, number][]> {
  const after = await blobGets();
  return [...after]
    .map(([digest, n]): [string, number] => [digest, n - (before.get(digest) ?? 0)])
    .filter(([, n]) => n > 0);
}

/** Every RepoDigest an engine holds. */
async function digestsOn(engine: Docker): Promise<string[]> {
  return (await engine.listImages()).flatMap((image) => image.RepoDigests ?? []);
}

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-relay-paths-"));
  iso = isolatedProxies(lab);
  bigPak = await startIsolated(lab, 2);
  isolatedTargets = iso.targets;
}, 180_000);

afterAll(async () => {
  await labCtl("isolated", "down");
  await rm(scratch, { recursive: true, force: true });
});

describe("pull --relay auto: relays only for the proxy that cannot reach the registry", () => {
  let mixed: string[];

  beforeAll(async () => {
    // One ordinary lab proxy (reaches the registry) and one isolated proxy (cannot).
    const isolated = parse(await readFile(join(lab.dir, "client", "inventory-isolated.yaml"), "utf8")) as {
      proxies: { name: string; host: string }[];
    };
    const iso1 = isolated.proxies.find((p) => p.name === "iso-1");
    const inventory = join(scratch, "mixed.yaml");
    await writeFile(
      inventory,
      [
        "defaults:",
        "  user: root",
        `  identity: ${lab.identity}`,
        "proxies:",
        "  - name: proxy-1",
        "    host: 127.0.0.1",
        `    port: ${lab.firstSshPort}`,
        "  - name: iso-1",
        `    host: ${iso1?.host}`,
        "",
      ].join("\n"),
    );
    const knownHosts = join(scratch, "known_hosts-mixed");
    await writeFile(
      knownHosts,
      (await readFile(lab.knownHosts, "utf8")) +
        (await readFile(join(lab.dir, "client", "known_hosts-isolated"), "utf8")),
    );
    mixed = ["--inventory", inventory, "--known-hosts", knownHosts];
    await clearImages(lab, 1);
    await clearIsolated(1);
  });

  it("--dry-run says what it will do, and changes nothing", async () => {
    const hostsBefore = await hostsOf(1);
    const dry = (...more: string[]) =>
      runCli(["pull", lab.paks.sample, ...mixed, "--relay", "auto", "--dry-run", ...more], {
        env: registryEnv(lab),
      });
    const outline = await dry();
    expect(outline.code, outline.stderr).toBe(0);
    expect(outline.stdout).toMatch(/proxy-1 .*pull 1 image if missing/);
    expect(outline.stdout).toMatch(/iso-1 .*pull 1 image if missing/);
    expect(outline.stdout).toContain(
      "if the proxy's engine cannot reach the registry (REGISTRY_UNREACHABLE): the relay instead (--relay auto)",
    );
    // --verbose: each proxy's steps, the relay's words for the registry it would carry.
    const verbose = await dry("--verbose");
    expect(verbose.code, verbose.stderr).toBe(0);
    const relayLines = verbose.stdout
      .split("\n")
      .filter((line) =>
        line.includes(
          `if the proxy's engine cannot reach ${lab.registry} (REGISTRY_UNREACHABLE): relay ${lab.registry}:`,
        ),
      );
    expect(relayLines).toHaveLength(2);
    for (const line of relayLines) expect(line).toContain("with a marked line in /etc/hosts");
    expect(await hostsOf(1)).toBe(hostsBefore);
    expect(await digestsOn(engineOf(lab, 1))).toEqual([]);
    expect(await digestsOn(isoEngine(1))).toEqual([]);
  });

  it("pulls the reachable proxy directly and the isolated one through the relay, saying why", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...mixed, "--relay", "auto", "--json"], {
      env: registryEnv(lab),
    });
    expect(run.code, run.stderr).toBe(0);
    const rows = parseReport(run).proxies as unknown as RelayRow[];
    const byName = new Map(rows.map((r) => [r.name, r]));
    expect(byName.get("proxy-1")?.status).toBe("pulled");
    expect(byName.get("proxy-1")?.via).toBeUndefined();
    expect(byName.get("proxy-1")?.relayReason).toBeUndefined();
    expect(byName.get("iso-1")?.status).toBe("pulled");
    expect(byName.get("iso-1")?.via).toBe("relay");
    expect(byName.get("iso-1")?.relayReason).toMatch(/cannot reach the registry/);
    for (const engine of [engineOf(lab, 1), isoEngine(1)]) {
      const inspect = await engine.getImage(lab.sampleReference).inspect();
      expect(inspect.RepoDigests).toEqual([lab.sampleReference]);
    }
    expect(await hostsOf(1)).toBe(await originalHostsOf(1));
    expect(run.stdout + run.stderr).not.toContain(lab.registryPassword);
  });

  it("--only-failed with --relay: retries just the proxy an earlier direct run failed on, through the relay", async () => {
    await clearImages(lab, 1);
    await clearIsolated(1);
    const report = join(scratch, "direct.json");
    const direct = await runCli(
      ["pull", lab.paks.sample, ...mixed, "--report", report, "--json", "--timeout", "60"],
      { env: registryEnv(lab) },
    );
    expect(direct.code).toBe(1);
    const first = parseReport(direct).proxies as unknown as (RelayRow & { error?: { code: string } })[];
    expect(first.map((r) => [r.name, r.status, r.error?.code])).toEqual([
      ["proxy-1", "pulled", undefined],
      ["iso-1", "failed", "REGISTRY_UNREACHABLE"],
    ]);
    const retry = await runCli(
      ["pull", lab.paks.sample, ...mixed, "--relay", "--only-failed", report, "--json"],
      { env: registryEnv(lab) },
    );
    expect(retry.code, retry.stderr).toBe(0);
    const rows = parseReport(retry).proxies as unknown as RelayRow[];
    expect(rows.map((r) => [r.name, r.status, r.via])).toEqual([["iso-1", "pulled", "relay"]]);
    const inspect = await isoEngine(1).getImage(lab.sampleReference).inspect();
    expect(inspect.RepoDigests).toEqual([lab.sampleReference]);
    expect(await hostsOf(1)).toBe(await originalHostsOf(1));
  });
});

describe("Ctrl-C once a relayed pull is under way", () => {
  it("undoes the hosts line, exits 130, no stack trace", async () => {
    await clearIsolated(1);
    const log = join(lab.dir, "registry", "registry.log");
    const logBefore = (await readFile(log, "utf8")).length;
    const child = spawn(bin, ["pull", bigPak, ...isolatedTargets, "--limit", "iso-1", "--relay", "--json"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        CI: "true",
        ...registryEnv(lab),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
    // Under way: the line is in place and the relay has asked the registry for the big image's
    // manifest (the engine's pull through the relay has begun).
    let underWay = false;
    for (let i = 0; i < 600 && !underWay; i++) {
      const lined = (await hostsOf(1)).includes("# mp-sideload relay");
      const asked = /GET \/v2\/mp\/big-adapter-40\/manifests\//.test(
        (await readFile(log, "utf8")).slice(logBefore),
      );
      underWay = lined && asked;
      if (!underWay) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(underWay).toBe(true);
    child.kill("SIGINT");
    const code = await exited;
    clearTimeout(guard);
    expect(code, stderr).toBe(130);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(await hostsOf(1)).toBe(await originalHostsOf(1));
    // The report still comes, one JSON document, the interrupted proxy not counted as done.
    const report = parseReport({ code, stdout, stderr, ms: 0 });
    expect(report.summary.ok).toBe(0);
    expect(report.proxies.map((r) => [r.name, r.status, r.error?.code])).toEqual([
      ["iso-1", "failed", "INTERRUPTED"],
    ]);
    // And the image was not left under its name half pulled.
    expect(await digestsOn(isoEngine(1))).not.toContain(expect.stringContaining("big-adapter-40"));
  });
});

describe("several paks in one relayed run", () => {
  it("lands both images with their exact references, each blob fetched once", async () => {
    for (const j of [1, 2]) await clearIsolated(j);
    const before = await blobGets();
    const run = await runCli(
      ["pull", lab.paks.sample, lab.paks.second, ...isolatedTargets, "--relay", "--json"],
      { env: registryEnv(lab) },
    );
    expect(run.code, run.stderr).toBe(0);
    const rows = parseReport(run).proxies as unknown as RelayRow[];
    expect(rows).toHaveLength(4);
    for (const row of rows) expect([row.name, row.status, row.via]).toEqual([row.name, "pulled", "relay"]);
    expect(new Set(rows.map((r) => r.reference))).toEqual(
      new Set([lab.sampleReference, lab.secondReference]),
    );
    for (const j of [1, 2]) {
      for (const reference of [lab.sampleReference, lab.secondReference]) {
        // sample and second may share an image ID: each exact reference must be among its digests.
        const inspect = await isoEngine(j).getImage(reference).inspect();
        expect(inspect.RepoDigests).toContain(reference);
      }
      expect(await hostsOf(j)).toBe(await originalHostsOf(j));
    }
    const fetched = await fetchedSince(before);
    expect(fetched.length).toBeGreaterThan(0);
    for (const [digest, n] of fetched) expect([digest, n]).toEqual([digest, 1]);
  });
});

describe("--prune with --relay", () => {
  it("removes the old image of the repository on the isolated proxy, the relayed image stays", async () => {
    // An older build of mp/test-adapter on iso-1, under a tag of that repository: pulled on
    // proxy-1 (which reaches the registry) and loaded into iso-1's engine (which cannot).
    const old = (await labCtl("old-digests", "1")).trim().split("\n");
    const oldRef = `${lab.registry}/mp/test-adapter@${old[0]}`;
    const oldTag = `${lab.registry}/mp/test-adapter:relay-paths-old`;
    await clearImages(lab, 1);
    await clearIsolated(1);
    await pullDirect(engineOf(lab, 1), oldRef, {
      username: lab.registryUser,
      password: lab.registryPassword,
      serveraddress: lab.registry,
    });
    await engineOf(lab, 1)
      .getImage(oldRef)
      .tag({ repo: `${lab.registry}/mp/test-adapter`, tag: "relay-paths-old" });
    const oldId = (await engineOf(lab, 1).getImage(oldTag).inspect()).Id;
    const loaded = await isoEngine(1).loadImage(await engineOf(lab, 1).getImage(oldTag).get());
    await new Promise((resolve, reject) => {
      loaded.on("end", resolve).on("error", reject).resume();
    });
    expect((await isoEngine(1).getImage(oldTag).inspect()).Id).toBe(oldId);

    const run = await runCli(
      [
        "pull",
        lab.paks.sample,
        ...isolatedTargets,
        "--limit",
        "iso-1",
        "--relay",
        "--prune",
        "--keep",
        "0",
        "--json",
      ],
      { env: registryEnv(lab) },
    );
    expect(run.code, run.stderr).toBe(0);
    const rows = parseReport(run).proxies as unknown as (RelayRow & {
      prune?: { removed: { id: string; deleted: boolean }[]; error?: unknown };
    })[];
    expect(rows.map((r) => [r.name, r.status, r.via])).toEqual([["iso-1", "pulled", "relay"]]);
    expect(rows[0]?.prune?.error).toBeUndefined();
    expect(rows[0]?.prune?.removed.map((r) => [r.id, r.deleted])).toEqual([[oldId, true]]);
    const left = await isoEngine(1).listImages();
    expect(left.map((i) => i.Id)).not.toContain(oldId);
    expect((await isoEngine(1).getImage(lab.sampleReference).inspect()).RepoDigests).toEqual([
      lab.sampleReference,
    ]);
    expect(await hostsOf(1)).toBe(await originalHostsOf(1));
  });
});
