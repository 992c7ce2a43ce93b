/**
 * VCF Operations targets with `pull --relay` (issue 24): the lab's Suite API simulator names
 * east-group's two cloud proxies for LabAdapter (cp-east-1 UP, cp-east-2 DOWN, still tried), and
 * an ssh config of this test's own sends their hostNames to the lab's isolated proxies
 * (`scripts/lab.sh isolated up 2`: no route to the registry, a private /etc/hosts). The real
 * engines pull by the exact name through the relay; the tests check their RepoDigests, the rows'
 * `via`, the coverage verdict a direct Ops run gives, and each /etc/hosts byte for byte.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Coverage } from "../../src/sideload/types.js";
import { parseReport, runCli, type CliRun } from "./cli.js";
import { clearImages, labCtl, loadLab, registryEnv, repoDigests, type Lab } from "./lab.js";
import { isolatedProxies } from "./isolated.js";
import { loadOpsLab, type OpsLab } from "./ops-lab.js";

let lab: Lab;
let ops: OpsLab;
let iso: ReturnType<typeof isolatedProxies>;
let dir: string;
/** The isolated proxies' addresses, iso-1 first (port 22). */
let isoHosts: string[];

interface OpsRow {
  name: string;
  status: string;
  via?: string;
  relayReason?: string;
  opsState?: string;
  error?: { code: string; hint?: string };
}
const rowsOf = (run: CliRun) => parseReport(run).proxies as OpsRow[];
const coverageOf = (run: CliRun) => (JSON.parse(run.stdout) as { coverage?: Coverage }).coverage;

/** The verdict of a direct Ops pull that landed the image on both members of east-group. */
const readyEast: Coverage = {
  groups: [
    {
      group: "east-group",
      members: ["cp-east-1", "cp-east-2"],
      holding: ["cp-east-1", "cp-east-2"],
      lacking: [],
      unchecked: [],
      state: "ready",
      ready: true,
    },
  ],
  ready: true,
  partial: [],
};

/**
 * An ssh config sending each simulated collector's hostName to a lab proxy (`host port`), and
 * the target flags of an Ops run through it.
 */
async function opsOnto(name: string, routes: { host: string; port: number }[], knownHosts: string[]) {
  const hostNames = ["cp-east-1", "cp-east-2"];
  const config = routes
    .map(
      (r, i) =>
        `Host ${hostNames[i]}.mp-sideload.test\n  HostName ${r.host}\n  Port ${r.port}\n  User root\n  IdentityFile ${lab.identity}\n`,
    )
    .join("");
  await writeFile(join(dir, `${name}.ssh-config`), config);
  const known = (await Promise.all(knownHosts.map((f) => readFile(f, "utf8")))).join("");
  await writeFile(join(dir, `${name}.known_hosts`), known);
  return [
    ...["--ops", ops.url],
    ...["--ssh-config", join(dir, `${name}.ssh-config`)],
    ...["--known-hosts", join(dir, `${name}.known_hosts`)],
  ];
}

const isolatedKnownHosts = () => join(lab.dir, "client", "known_hosts-isolated");

beforeAll(async () => {
  lab = loadLab();
  ops = loadOpsLab(lab);
  iso = isolatedProxies(lab);
  await labCtl("isolated", "up", "2");
  for (const j of [1, 2]) await iso.clear(j);
  const inventory = parse(await readFile(join(lab.dir, "client", "inventory-isolated.yaml"), "utf8")) as {
    proxies: { host: string }[];
  };
  isoHosts = inventory.proxies.map((p) => p.host);
  dir = await mkdtemp(join(tmpdir(), "relay-ops-"));
}, 180_000);

afterAll(async () => {
  await labCtl("isolated", "down");
  await clearImages(lab, 1);
  await rm(dir, { recursive: true, force: true });
});

describe("pull --relay onto the cloud proxies VCF Operations names", () => {
  let targets: string[];
  beforeAll(async () => {
    targets = await opsOnto(
      "isolated",
      isoHosts.map((host) => ({ host, port: 22 })),
      [isolatedKnownHosts()],
    );
  });

  it("directly, both members fail REGISTRY_UNREACHABLE with the --relay hint, and east-group is not ready", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...targets, "--json", "--timeout", "60"], {
      env: { ...ops.env, ...registryEnv(lab) },
    });
    expect(run.code, run.stderr).toBe(1);
    const rows = rowsOf(run);
    expect(rows.map((r) => [r.name, r.status, r.error?.code])).toEqual([
      ["cp-east-1", "failed", "REGISTRY_UNREACHABLE"],
      ["cp-east-2", "failed", "REGISTRY_UNREACHABLE"],
    ]);
    for (const row of rows) expect(row.error?.hint).toContain("pull --relay");
    expect(coverageOf(run)).toMatchObject({ ready: false, groups: [{ group: "east-group", state: "none" }] });
  });

  it("--relay lands the exact reference on both, the rows say via relay, east-group is ready, /etc/hosts as it was", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...targets, "--relay", "--json"], {
      env: { ...ops.env, ...registryEnv(lab) },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(rowsOf(run).map((r) => [r.name, r.status, r.via, r.opsState])).toEqual([
      ["cp-east-1", "pulled", "relay", undefined],
      ["cp-east-2", "pulled", "relay", "DOWN"],
    ]);
    expect(coverageOf(run)).toEqual(readyEast);
    for (const j of [1, 2]) {
      const inspect = await iso.engine(j).getImage(lab.sampleReference).inspect();
      expect(inspect.RepoDigests).toEqual([lab.sampleReference]);
      expect(await iso.hostsOf(j)).toBe(await iso.originalHostsOf(j));
    }
    expect(run.stdout + run.stderr).not.toContain(lab.registryPassword);
    expect(run.stdout + run.stderr).not.toContain(ops.password);
  });

  it("verify --ops then says present on both, with no relay, and the same verdict", async () => {
    const run = await runCli(["verify", lab.paks.sample, ...targets, "--json"], { env: ops.env });
    expect(run.code, run.stderr).toBe(0);
    expect(rowsOf(run).map((r) => [r.name, r.status, r.via])).toEqual([
      ["cp-east-1", "present", undefined],
      ["cp-east-2", "present", undefined],
    ]);
    expect(coverageOf(run)).toEqual(readyEast);
  });
});

describe("pull --relay auto with Ops targets on both sides of the registry's reach", () => {
  let targets: string[];
  beforeAll(async () => {
    // cp-east-1 is isolated; cp-east-2 is the lab's proxy 1, which reaches the registry.
    targets = await opsOnto(
      "mixed",
      [
        { host: isoHosts[0] ?? "", port: 22 },
        { host: "127.0.0.1", port: lab.firstSshPort },
      ],
      [isolatedKnownHosts(), lab.knownHosts],
    );
    await iso.clear(1);
    await clearImages(lab, 1);
  });

  it("--dry-run says the relay is the fallback on each proxy, and why each Ops target is one", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...targets, "--relay", "auto", "--dry-run"], {
      env: { ...ops.env, ...registryEnv(lab) },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/cp-east-1 [^\n]*\n\s+why: east-group holds LabAdapter instance "lab-east"\n/);
    expect(run.stdout).toMatch(/cp-east-2 [^\n]*\n\s+why: [^\n]*DOWN in VCF Operations: still tried\)\n/);
    expect(run.stdout).toMatch(
      /steps, on each proxy:[\s\S]*\n\s+\d+\. if the proxy's engine cannot reach the registry \(REGISTRY_UNREACHABLE\): the relay instead \(--relay auto\)\n/,
    );
    expect(await iso.engine(1).listImages()).toEqual([]);
  });

  it("relays only to the isolated member (saying why), pulls directly onto the other, and east-group is ready", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...targets, "--relay", "auto", "--json"], {
      env: { ...ops.env, ...registryEnv(lab) },
    });
    expect(run.code, run.stderr).toBe(0);
    const rows = rowsOf(run);
    expect(rows.map((r) => [r.name, r.status, r.via])).toEqual([
      ["cp-east-1", "pulled", "relay"],
      ["cp-east-2", "pulled", undefined],
    ]);
    expect(rows[0]?.relayReason).toMatch(/cannot reach the registry/);
    expect(rows[1]?.relayReason).toBeUndefined();
    expect(coverageOf(run)).toEqual(readyEast);
    const inspect = await iso.engine(1).getImage(lab.sampleReference).inspect();
    expect(inspect.RepoDigests).toEqual([lab.sampleReference]);
    expect(await repoDigests(lab, 1)).toEqual([lab.sampleReference]);
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
    expect(run.stdout + run.stderr).not.toContain(lab.registryPassword);
  });
});
