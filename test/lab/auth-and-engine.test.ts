/**
 * SSH auth through ssh-agent, the per-proxy engine socket (both transports), a socket the SSH
 * user may not use, and a pak with two adapters: against the lab's real sshd and engines.
 */
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli } from "./cli.js";
import {
  clearImages,
  inventoryArgs,
  labCtl,
  loadLab,
  proxyAddress,
  repoDigests,
  sshdLog,
  type Lab,
  registryEnv,
} from "./lab.js";

const run = promisify(execFile);
let lab: Lab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-auth-"));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("ssh-agent", () => {
  it("authenticates with a key held only by the agent (SSH_AUTH_SOCK)", async () => {
    const socket = join(scratch, "agent.sock");
    const { stdout } = await run("ssh-agent", ["-a", socket, "-s"]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(stdout)?.[1];
    try {
      await run("ssh-add", [lab.identity], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      const args = [
        "verify",
        lab.paks.sample,
        "--proxy",
        `root@${proxyAddress(lab, 1)}`,
        "--known-hosts",
        lab.knownHosts,
        "--json",
      ];
      // HOME without ~/.ssh keys: only the agent can authenticate.
      const result = await runCli(args, { env: { SSH_AUTH_SOCK: socket, HOME: scratch } });
      const row = parseReport(result).proxies[0];
      expect(row?.error?.code).not.toBe("SSH_AUTH_FAILED");
      expect(row?.status).toMatch(/present|missing/);
      const noAgent = await runCli(args, { env: { HOME: scratch } });
      expect(parseReport(noAgent).proxies[0]?.error?.code).toBe("SSH_AUTH_FAILED");
    } finally {
      if (pid) process.kill(Number(pid));
    }
  });
});

describe("the engine socket", () => {
  async function inventoryWithSocket(socket: string, user = "root"): Promise<string> {
    const file = join(scratch, `inventory-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(
      file,
      `proxies:\n  - name: proxy-1\n    host: 127.0.0.1\n    port: ${lab.firstSshPort}\n    user: ${user}\n` +
        `    identity: ${lab.identity}\n    dockerSocket: ${socket}\n`,
    );
    return file;
  }

  it.each(["stream-local", "dial-stdio"])(
    "an inventory's dockerSocket is the engine used, over %s",
    async (transport) => {
      // Reach proxy-1 over SSH, but name proxy-2's engine socket: the image must land there.
      await clearImages(lab, 1);
      await clearImages(lab, 2);
      const inventory = await inventoryWithSocket(join(lab.run, "p2", "docker.sock"));
      if (transport === "dial-stdio") await labCtl("forwarding", "1", "off");
      try {
        const result = await runCli(
          ["pull", lab.paks.sample, "--inventory", inventory, "--known-hosts", lab.knownHosts, "--json"],
          {
            env: registryEnv(lab),
          },
        );
        expect(result.code, result.stderr).toBe(0);
        expect(parseReport(result).proxies[0]?.transport).toBe(transport);
        expect(await repoDigests(lab, 2)).toContain(lab.sampleReference);
        expect(await repoDigests(lab, 1)).toEqual([]);
      } finally {
        if (transport === "dial-stdio") await labCtl("forwarding", "1", "on");
      }
    },
  );

  /** Channels opened on proxy `p`'s sshd since `from` (a length of its log), by type. */
  async function channelsSince(p: number, from: number): Promise<string[]> {
    const added = (await sshdLog(lab, p)).slice(from);
    return [...added.matchAll(/server_input_channel_open: ctype (\S+)/g)].map((m) => m[1] ?? "");
  }

  it("uses the engine at /var/run/docker.sock through stream-local channels only: no session to look for it", async () => {
    await clearImages(lab, 1);
    const from = (await sshdLog(lab, 1)).length;
    const result = await runCli(
      [
        "pull",
        lab.paks.sample,
        "--proxy",
        `root@${proxyAddress(lab, 1)}`,
        "--identity",
        lab.identity,
        "--known-hosts",
        lab.knownHosts,
        "--json",
      ],
      {
        env: registryEnv(lab),
      },
    );
    expect(result.code, result.stderr).toBe(0);
    const row = parseReport(result).proxies[0];
    expect(row?.engine).toBe("/var/run/docker.sock");
    expect(row?.transport).toBe("stream-local");
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);
    const channels = await channelsSince(1, from);
    expect(channels.length).toBeGreaterThan(0);
    expect(new Set(channels)).toEqual(new Set(["direct-streamlocal@openssh.com"]));
  });

  it("with nothing at the default socket, finds the engine in the proxy's DOCKER_HOST", async () => {
    await clearImages(lab, 2);
    await labCtl("default-socket", "2", "off");
    try {
      const from = (await sshdLog(lab, 2)).length;
      const result = await runCli(["pull", lab.paks.sample, ...inventoryArgs(lab), "--json"], {
        env: registryEnv(lab),
      });
      expect(result.code, result.stderr).toBe(0);
      const rows = parseReport(result).proxies;
      expect(rows.find((r) => r.name === "proxy-2")?.engine).toBe(join(lab.run, "p2", "docker.sock"));
      expect(rows.find((r) => r.name === "proxy-2")?.transport).toBe("stream-local");
      expect(rows.find((r) => r.name === "proxy-1")?.engine).toBe("/var/run/docker.sock");
      expect(await repoDigests(lab, 2)).toContain(lab.sampleReference);
      // One session: the one that read DOCKER_HOST.
      expect((await channelsSince(2, from)).filter((c) => c === "session")).toHaveLength(1);
    } finally {
      await labCtl("default-socket", "2", "on");
    }
  });

  it("a socket the SSH user may not open gives ENGINE_PERMISSION", async () => {
    const socket = join(scratch, "root-only.sock");
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(socket, r));
    await chmod(socket, 0o600);
    await chmod(scratch, 0o755);
    try {
      const inventory = await inventoryWithSocket(socket, lab.passwordUser);
      const result = await runCli([
        "verify",
        lab.paks.sample,
        "--inventory",
        inventory,
        "--known-hosts",
        lab.knownHosts,
        "--json",
      ]);
      expect(result.code).toBe(1);
      const row = parseReport(result).proxies[0];
      expect(row?.error?.code).toBe("ENGINE_PERMISSION");
      expect(row?.failedStep).toBe("engine");
      expect(row?.error?.hint).toContain("docker group");
    } finally {
      server.close();
    }
  });
});

describe("a pak with two adapters", () => {
  it("pulls both references on every proxy, logging in once per proxy and registry", async () => {
    for (let p = 1; p <= lab.proxies; p++) await clearImages(lab, p);
    const result = await runCli(
      ["pull", lab.paks.twoAdapters, "--inventory", lab.inventory, "--known-hosts", lab.knownHosts, "--json"],
      { env: registryEnv(lab) },
    );
    expect(result.code, result.stderr).toBe(0);
    const report = parseReport(result);
    expect(report.references).toEqual([lab.sampleReference, lab.secondReference]);
    expect(report.proxies).toHaveLength(2 * lab.proxies);
    expect(report.summary).toEqual({ ok: 6, failed: 0, total: 6 });
    for (let p = 1; p <= lab.proxies; p++) {
      const rows = report.proxies.filter((r) => r.name === `proxy-${p}`);
      expect(rows.map((r) => [r.reference, r.status])).toEqual([
        [lab.sampleReference, "pulled"],
        [lab.secondReference, "pulled"],
      ]);
      expect(rows[0]?.steps.map((s) => s.step)).toContain("login");
      expect(rows[1]?.steps.map((s) => s.step)).not.toContain("login");
      const digests = await repoDigests(lab, p);
      expect(digests).toContain(lab.sampleReference);
      expect(digests).toContain(lab.secondReference);
    }
    const verify = await runCli([
      "verify",
      lab.paks.twoAdapters,
      "--inventory",
      lab.inventory,
      "--known-hosts",
      lab.knownHosts,
    ]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain(lab.secondReference);
  });
});
