/**
 * `pull --relay` against the lab's isolated proxies (`scripts/lab.sh isolated up 2`): sshd and
 * dockerd in network namespaces with no route to the registry and a private /etc/hosts. Real
 * engines pull by the exact name through the relay; the tests check the engines' RepoDigests,
 * the proxies' /etc/hosts byte for byte, and the registry's own log.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli } from "./cli.js";
import { bin, labCtl, loadLab, registryEnv, type Lab } from "./lab.js";
import { blobGets as blobGetsOf, isolatedProxies, startIsolated } from "./isolated.js";

let lab: Lab;
let targets: string[];
let bigPak: string;
let iso: ReturnType<typeof isolatedProxies>;
const hostsOf = (j: number) => iso.hostsOf(j);
const originalHostsOf = (j: number) => iso.originalHostsOf(j);
const engine = (j: number) => iso.engine(j);
const clearIsolated = (j: number) => iso.clear(j);
const blobGets = () => blobGetsOf(lab);

beforeAll(async () => {
  lab = loadLab();
  iso = isolatedProxies(lab);
  bigPak = await startIsolated(lab, 2);
  targets = iso.targets;
}, 180_000);

afterAll(async () => {
  await labCtl("isolated", "down");
});

describe("pull --relay onto proxies that cannot reach the registry", () => {
  it("a direct pull fails there, and its hint names --relay", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...targets, "--json", "--timeout", "60"], {
      env: registryEnv(lab),
    });
    expect(run.code).toBe(1);
    for (const row of parseReport(run).proxies) {
      expect(row.error?.code).toBe("REGISTRY_UNREACHABLE");
      expect(row.error?.hint).toContain("--relay");
    }
    const doctor = await runCli(["doctor", ...targets, "--pak", lab.paks.sample, "--json"], {
      env: registryEnv(lab),
    });
    const registryChecks = [...doctor.stdout.matchAll(/"check": "registry [^"]+",[^}]*"hint": "([^"]*)"/g)];
    expect(registryChecks.map((m) => m[1]?.includes("pull --relay"))).toEqual([true, true]);
  });

  it("lands the exact reference on each, the registry serving each blob once, /etc/hosts as it was", async () => {
    const before = await blobGets();
    const run = await runCli(["pull", lab.paks.sample, ...targets, "--relay", "--json"], {
      env: registryEnv(lab),
    });
    expect(run.code, run.stderr).toBe(0);
    const rows = parseReport(run).proxies as { status: string; via?: string }[];
    expect(rows.map((r) => [r.status, r.via])).toEqual([
      ["pulled", "relay"],
      ["pulled", "relay"],
    ]);
    for (const j of [1, 2]) {
      const inspect = await engine(j).getImage(lab.sampleReference).inspect();
      expect(inspect.RepoDigests).toEqual([lab.sampleReference]);
      expect(await hostsOf(j)).toBe(await originalHostsOf(j));
    }
    const after = await blobGets();
    const fetched = [...after].filter(([digest, n]) => n > (before.get(digest) ?? 0));
    expect(fetched.length).toBeGreaterThan(0);
    for (const [digest, n] of fetched) expect([digest, n - (before.get(digest) ?? 0)]).toEqual([digest, 1]);
    expect(run.stdout + run.stderr).not.toContain(lab.registryPassword);
  });

  it("verify then says present, without a relay", async () => {
    const run = await runCli(["verify", lab.paks.sample, ...targets, "--json"]);
    expect(run.code).toBe(0);
    expect(parseReport(run).proxies.map((r) => r.status)).toEqual(["present", "present"]);
  });

  it("a run killed mid-pull leaves its line; the next run removes it, says so, and gives the file back", async () => {
    // Killed once both proxies have their line (the pull of 40 MiB is then under way).
    const killed = spawn(bin, ["pull", bigPak, ...targets, "--relay", "--json"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        CI: "true",
        ...registryEnv(lab),
      },
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => killed.once("exit", (code, signal) => resolve(signal)));
    for (let i = 0; i < 300; i++) {
      const lines = await Promise.all(
        [1, 2].map(async (j) => (await hostsOf(j)).includes("# mp-sideload relay")),
      );
      if (lines.every(Boolean)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    killed.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    for (const j of [1, 2]) expect(await hostsOf(j)).toContain("# mp-sideload relay");
    // doctor removes the line on iso-1 and says so; the next pull removes iso-2's and says so.
    const doctor = await runCli(["doctor", ...targets, "--limit", "iso-1", "--json"]);
    expect(doctor.stdout).toContain("removed /etc/hosts lines left by killed pull --relay runs");
    expect(await hostsOf(1)).toBe(await originalHostsOf(1));
    const next = await runCli(["pull", bigPak, ...targets, "--relay", "--json"], { env: registryEnv(lab) });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain("left by killed runs");
    for (const j of [1, 2]) expect(await hostsOf(j)).toBe(await originalHostsOf(j));
  });

  it("refuses a proxy whose loopback already has the port, and changes nothing there", async () => {
    await clearIsolated(2);
    const port = lab.registry.split(":")[1] ?? "";
    const ns = (await labCtl("isolated-ns", "2")).trim();
    const listener: ChildProcess = spawn("nsenter", [
      `--net=/run/netns/${ns}`,
      process.execPath,
      "-e",
      `require("net").createServer().listen(${port}, "127.0.0.1", () => console.log("up"))`,
    ]);
    await new Promise((resolve) => listener.stdout?.once("data", resolve));
    try {
      const run = await runCli(
        ["pull", lab.paks.sample, ...targets, "--relay", "--json", "--limit", "iso-2"],
        {
          env: registryEnv(lab),
        },
      );
      expect(run.code).toBe(1);
      expect(parseReport(run).proxies.map((r) => r.error?.code)).toEqual(["RELAY_PORT_IN_USE"]);
      expect(await hostsOf(2)).toBe(await originalHostsOf(2));
    } finally {
      listener.kill();
    }
  });
});
