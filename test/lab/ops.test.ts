/**
 * VCF Operations as a target source, end to end against the lab: the Suite API simulator the
 * lab starts (HTTPS with the lab's CA), whose cloud proxies are the lab's proxies through an
 * ssh config, and the built binary.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveRoutes } from "../../src/resolve/routes.js";
import { coverageOf } from "../../src/coverage/coverage.js";
import { resolveOpsProxies } from "../../src/ops/ops-source.js";
import { opsProxiesToTargets } from "../../src/ops/resolve.js";
import { openSshConfig } from "../../src/ssh/ssh-config.js";
import { runCli } from "./cli.js";
import {
  clearImages,
  engineOf,
  loadLab,
  pullDirect,
  registryEnv,
  repoDigests,
  sshdLog,
  type Lab,
} from "./lab.js";
import { loadOpsLab, type OpsLab } from "./ops-lab.js";

let lab: Lab;
let ops: OpsLab;
let dir: string;
beforeAll(() => {
  lab = loadLab();
  ops = loadOpsLab(lab);
  dir = mkdtempSync(join(tmpdir(), "ops-lab-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Listed {
  collectors: {
    name: string;
    host: string;
    type: string | null;
    state: string;
    cloudProxy: boolean;
    groups: string[];
    instances: { name: string; kind: string }[];
  }[];
  groups: { name: string; members: string[] }[];
}

describe("proxies --ops against the lab's simulator", () => {
  it("lists the same deployment from both releases' shapes, and releases its tokens", async () => {
    const before = await ops.stats();
    const docs: Listed[] = [];
    for (const release of ["vcf9", "aria8"]) {
      const run = await runCli(
        ["proxies", "--ops", `${ops.url}/${release}`, "--pak", lab.paks.sample, "--json"],
        { env: ops.env },
      );
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      docs.push(JSON.parse(run.stdout) as Listed);
    }
    const gist = (d: Listed) =>
      d.collectors.map((c) => [
        c.name,
        c.host,
        c.state,
        c.cloudProxy,
        c.groups,
        c.instances.map((i) => i.name),
      ]);
    expect(gist(docs[0] as Listed)).toEqual([
      ["vcf-ops-node-1", "ops-node-1.mp-sideload.test", "UP", false, [], ["lab-on-node"]],
      ["cp-east-1", "cp-east-1.mp-sideload.test", "UP", true, ["east-group"], ["lab-east"]],
      ["cp-east-2", "cp-east-2.mp-sideload.test", "DOWN", true, ["east-group"], ["lab-east"]],
      ["cp-west-1", "cp-west-1.mp-sideload.test", "UP", true, ["west-group"], []],
    ]);
    expect(gist(docs[1] as Listed)).toEqual(gist(docs[0] as Listed));
    expect(docs[0]?.collectors.map((c) => c.type)).toEqual([
      "INTERNAL",
      "CLOUD_PROXY",
      "UNIFIED_CLOUD_PROXY",
      "CLOUD_PROXY",
    ]);
    expect(docs[1]?.collectors.map((c) => c.type)).toEqual([null, null, null, null]);
    const after = await ops.stats();
    for (const release of ["vcf9", "aria8"]) {
      expect((after[release]?.released ?? 0) - (before[release]?.released ?? 0)).toBe(1);
    }
  });

  it("a wrong password: exit 2 OPS_UNAUTHORIZED, the password nowhere in the output", async () => {
    const wrong = "Wr0ng-ops-pa55word";
    for (const [env, stdin] of [
      [{ ...ops.env, MP_SIDELOAD_OPS_PASSWORD: wrong }, undefined],
      [{ ...ops.env, MP_SIDELOAD_OPS_PASSWORD: "" }, `${wrong}\n`],
    ] as const) {
      const run = await runCli(
        [
          "proxies",
          "--ops",
          ops.url,
          "--debug",
          ...(stdin === undefined ? [] : ["--ops-user", ops.user, "--ops-password-stdin"]),
        ],
        { env, ...(stdin === undefined ? {} : { stdin }) },
      );
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        /OPS_UNAUTHORIZED: VCF Operations 127\.0\.0\.1:\d+: the user "ops-admin" was refused/,
      );
      expect(run.stdout + run.stderr).not.toContain(wrong);
      expect(run.stdout + run.stderr).not.toContain(ops.password);
    }
  });

  it("an untrusted CA: OPS_UNTRUSTED_CA with the --ops-ca hint; --ops-ca then works", async () => {
    const { NODE_EXTRA_CA_CERTS: _ca, ...env } = ops.env;
    const refused = await runCli(["proxies", "--ops", ops.url], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/OPS_UNTRUSTED_CA: .*not trusted here[^\n]*\n\s+hint: pass --ops-ca FILE/);
    const trusted = await runCli(["proxies", "--ops", ops.url, "--ops-ca", lab.caFile], { env });
    expect(trusted.code).toBe(0);
  });

  it("an unknown collector group: exit 2 listing those that exist", async () => {
    const run = await runCli(["proxies", "--ops", ops.url, "--collector-group", "north-group"], {
      env: ops.env,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/OPS_GROUP_UNKNOWN: VCF Operations has no collector group "north-group"/);
    expect(run.stderr).toMatch(/hint: its collector groups: "east-group", "west-group"/);
  });

  it.each([
    ["e403", /OPS_FORBIDDEN/],
    ["e404", /OPS_API_FAILED: .*HTTP 404/],
    ["e500", /OPS_API_FAILED: .*HTTP 500/],
    ["hostile-host", /OPS_INVALID: .*collector\[0\]\.hostName "cp-east-1;rm -rf \/" is not a host name/],
  ])("%s → exit 2 %s", async (instance, message) => {
    const run = await runCli(["proxies", "--ops", `${ops.url}/${instance}`], { env: ops.env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it("a slow answer: OPS_UNREACHABLE with a timeout, within --ops-timeout", async () => {
    const run = await runCli(["proxies", "--ops", `${ops.url}/slow`, "--ops-timeout", "2"], { env: ops.env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/OPS_UNREACHABLE: .*no answer within 2 s \(timeout\)/);
    expect(run.ms).toBeLessThan(10_000);
  });
});

describe("Ops targets reach the lab's proxies", () => {
  it("LabAdapter's group is proxy-1 and proxy-2 through the ssh config, for both releases", async () => {
    const reader = openSshConfig(ops.sshConfig, {});
    for (const release of ["vcf9", "aria8"]) {
      const { proxies, groups } = await resolveOpsProxies(
        { url: `${ops.url}/${release}`, user: ops.user, password: ops.password, ca: undefined, env: ops.env },
        { kinds: ["LabAdapter"] },
      );
      expect(proxies.map((p) => [p.name, p.state, p.reason])).toEqual([
        ["cp-east-1", "UP", 'east-group holds LabAdapter instance "lab-east"'],
        ["cp-east-2", "DOWN", 'east-group holds LabAdapter instance "lab-east"'],
      ]);
      expect(groups.map((g) => [g.name, g.members])).toEqual([["east-group", ["cp-east-1", "cp-east-2"]]]);
      const routed = await resolveRoutes(opsProxiesToTargets(proxies, "root", false), reader, {
        defaultUser: "root",
      });
      expect(routed.map((p) => `${p.host}:${p.port}`)).toEqual([
        `127.0.0.1:${lab.firstSshPort}`,
        `127.0.0.1:${lab.firstSshPort + 1}`,
      ]);
    }
  });

  it("--write-inventory: verify with it and the ssh config reaches exactly the east group", async () => {
    const file = join(dir, "ops.yaml");
    const listed = await runCli(["proxies", "--ops", ops.url, "--write-inventory", file], { env: ops.env });
    expect(listed.code).toBe(0);
    const run = await runCli(
      [
        "verify",
        lab.paks.sample,
        "--inventory",
        file,
        "--ssh-config",
        ops.sshConfig,
        "--known-hosts",
        lab.knownHosts,
        "--limit",
        "east-group",
        "--json",
      ],
      { env: {} },
    );
    const report = JSON.parse(run.stdout) as { proxies: { name: string; port: number }[] };
    expect(report.proxies.map((p) => [p.name, p.port])).toEqual([
      ["cp-east-1", lab.firstSshPort],
      ["cp-east-2", lab.firstSshPort + 1],
    ]);
  });
});

describe("the coverage verdict on the lab's real engines", () => {
  afterAll(async () => {
    for (const proxy of [1, 2]) await clearImages(lab, proxy);
  });

  it("one member of east-group holding the image: partial; after pull onto the group: ready", async () => {
    for (const proxy of [1, 2]) await clearImages(lab, proxy);
    await pullDirect(engineOf(lab, 1), lab.sampleReference, {
      username: lab.registryUser,
      password: lab.registryPassword,
      serveraddress: lab.registry,
    });
    const file = join(dir, "coverage.yaml");
    expect(
      (await runCli(["proxies", "--ops", ops.url, "--write-inventory", file], { env: ops.env })).code,
    ).toBe(0);
    const { groups } = await resolveOpsProxies(
      { url: ops.url, user: ops.user, password: ops.password, env: ops.env },
      { kinds: ["LabAdapter"] },
    );
    const targets = [
      "--inventory",
      file,
      "--ssh-config",
      ops.sshConfig,
      "--known-hosts",
      lab.knownHosts,
      "--limit",
      "east-group",
    ];
    const verdict = async () => {
      const run = await runCli(["verify", lab.paks.sample, ...targets, "--json"], { env: {} });
      const report = JSON.parse(run.stdout) as {
        references: string[];
        proxies: Parameters<typeof coverageOf>[1];
      };
      return { code: run.code, coverage: coverageOf(groups, report.proxies, report.references) };
    };
    const before = await verdict();
    expect(before.code).toBe(1);
    expect(before.coverage).toMatchObject({ ready: false, partial: ["east-group"] });
    expect(before.coverage.groups[0]).toMatchObject({
      holding: ["cp-east-1"],
      lacking: ["cp-east-2"],
      state: "partial",
    });
    const pull = await runCli(["pull", lab.paks.sample, ...targets, "--json"], {
      env: { ...registryEnv(lab), NODE_EXTRA_CA_CERTS: lab.caFile },
    });
    expect(pull.code).toBe(0);
    const after = await verdict();
    expect(after.code).toBe(0);
    expect(after.coverage).toMatchObject({ ready: true, partial: [] });
  });
});

describe("pull and verify --ops: the targets VCF Operations names, end to end", () => {
  const opsArgs = (url = ops.url) => [
    "--ops",
    url,
    "--ssh-config",
    ops.sshConfig,
    "--known-hosts",
    lab.knownHosts,
  ];
  interface OpsReport {
    proxies: { name: string; port: number; status: string; opsState?: string }[];
    coverage?: { ready: boolean; partial: string[]; groups: { group: string; holding: string[] }[] };
  }
  const accepted = async () =>
    Promise.all(
      [1, 2, 3].map(async (p) => ((await sshdLog(lab, p)).match(/Accepted publickey/g) ?? []).length),
    );

  afterAll(async () => {
    for (const proxy of [1, 2, 3]) await clearImages(lab, proxy);
  });

  it("verify targets exactly east-group's two members (not the analytics node, not west), for both releases", async () => {
    for (const proxy of [1, 2, 3]) await clearImages(lab, proxy);
    for (const release of ["vcf9", "aria8"]) {
      const before = await accepted();
      const run = await runCli(["verify", lab.paks.sample, ...opsArgs(`${ops.url}/${release}`), "--json"], {
        env: ops.env,
      });
      expect(run.code, run.stderr).toBe(1);
      const report = JSON.parse(run.stdout) as OpsReport;
      expect(report.proxies.map((p) => [p.name, p.port, p.status])).toEqual([
        ["cp-east-1", lab.firstSshPort, "missing"],
        ["cp-east-2", lab.firstSshPort + 1, "missing"],
      ]);
      // Ops reports cp-east-2 DOWN: it is tried all the same, and its row says so.
      expect(report.proxies[1]?.opsState).toBe("DOWN");
      const after = await accepted();
      expect(after[2]).toBe(before[2]); // west's proxy never contacted
    }
  });

  it("pull lands the image on both members; after one member only, verify exits 1 naming the half-covered group", async () => {
    const pulled = await runCli(["pull", lab.paks.sample, ...opsArgs(), "--json"], {
      env: { ...ops.env, ...registryEnv(lab) },
    });
    expect(pulled.code, pulled.stderr).toBe(0);
    const report = JSON.parse(pulled.stdout) as OpsReport;
    expect(report.proxies.map((p) => [p.name, p.status])).toEqual([
      ["cp-east-1", "pulled"],
      ["cp-east-2", "pulled"],
    ]);
    expect(report.coverage).toMatchObject({ ready: true, partial: [] });
    for (const proxy of [1, 2]) expect(await repoDigests(lab, proxy)).toContain(lab.sampleReference);

    await clearImages(lab, 2);
    const half = await runCli(["verify", lab.paks.sample, ...opsArgs()], { env: ops.env });
    expect(half.code).toBe(1);
    expect(half.stdout).toMatch(/east-group: 1 of 2 members hold every image.*NOT READY/);
    const json = await runCli(["verify", lab.paks.sample, ...opsArgs(), "--json"], { env: ops.env });
    expect((JSON.parse(json.stdout) as OpsReport).coverage).toMatchObject({
      ready: false,
      partial: ["east-group"],
    });
  });

  it("a wrong Ops password exits 2 before any SSH connection", async () => {
    const before = await Promise.all([1, 2, 3].map(async (p) => (await sshdLog(lab, p)).length));
    const run = await runCli(["verify", lab.paks.sample, ...opsArgs(), "--json"], {
      env: { ...ops.env, MP_SIDELOAD_OPS_PASSWORD: "not-the-password" },
    });
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: "OPS_UNAUTHORIZED" } });
    expect(run.stdout + run.stderr).not.toContain("not-the-password");
    expect(await Promise.all([1, 2, 3].map(async (p) => (await sshdLog(lab, p)).length))).toEqual(before);
  });

  it("--dry-run says why each proxy is a target", async () => {
    const run = await runCli(["verify", lab.paks.sample, ...opsArgs(), "--dry-run"], { env: ops.env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/cp-east-1 [^\n]*\n\s+why: east-group holds LabAdapter instance "lab-east"\n/);
    expect(run.stdout).toMatch(/cp-east-2 [^\n]*\n\s+why: [^\n]*DOWN in VCF Operations: still tried/);
    expect(run.stdout).not.toContain("cp-west-1");
  });
});
