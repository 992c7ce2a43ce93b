/**
 * Real fleets: OpenSSH's client config (an alias with HostName, Port, User, IdentityFile) and
 * jump hosts (a lab proxy reached only through another), against the lab's real sshd.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli } from "./cli.js";
import { clearImages, loadLab, repoDigests, sshdLog, type Lab, registryEnv } from "./lab.js";

let lab: Lab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-fleet-"));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const port = (proxy: number) => lab.firstSshPort + proxy - 1;

/** A HOME with only `config` in ~/.ssh: no default keys, so the config's IdentityFile must be used. */
async function homeWith(config: string): Promise<string> {
  const home = await mkdtemp(join(scratch, "home-"));
  await mkdir(join(home, ".ssh"));
  await writeFile(join(home, ".ssh", "config"), config);
  return home;
}

const count = (text: string, needle: string | RegExp) =>
  text.split("\n").filter((l) => (typeof needle === "string" ? l.includes(needle) : needle.test(l))).length;

describe("~/.ssh/config", () => {
  it("a Host alias with HostName, Port, User and IdentityFile works with --proxy ALIAS", async () => {
    await clearImages(lab, 1);
    const home = await homeWith(
      `Host cp-east-1\n  HostName 127.0.0.1\n  Port ${port(1)}\n  User root\n  IdentityFile ${lab.identity}\n\nHost *\n  ConnectTimeout 10\n`,
    );
    const run = await runCli(
      ["pull", lab.paks.sample, "--proxy", "cp-east-1", "--known-hosts", lab.knownHosts, "--json", "--debug"],
      {
        env: { HOME: home, ...registryEnv(lab) },
      },
    );
    expect(run.code, run.stderr).toBe(0);
    const row = parseReport(run).proxies[0];
    expect(row).toMatchObject({ name: "cp-east-1", host: "127.0.0.1", port: port(1), status: "pulled" });
    expect(run.stderr).toMatch(/debug: ssh config .*\.ssh\/config read with ssh -G/);
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);

    // --ssh-config none ignores it: the alias is then a host name nobody knows.
    const ignored = await runCli(
      [
        "verify",
        lab.paks.sample,
        "--proxy",
        "cp-east-1",
        "--known-hosts",
        lab.knownHosts,
        "--json",
        "--ssh-config",
        "none",
      ],
      {
        env: { HOME: home },
      },
    );
    expect(parseReport(ignored).proxies[0]?.error?.code).toBe("SSH_UNREACHABLE");
  });

  it("explicit options beat the config: --ssh-user and a --proxy port", async () => {
    const home = await homeWith(
      `Host alias\n  HostName 127.0.0.1\n  Port 1\n  User nobody\n  IdentityFile ${lab.identity}\n`,
    );
    const run = await runCli(
      [
        "verify",
        lab.paks.sample,
        "--proxy",
        `alias:${port(1)}`,
        "--ssh-user",
        "root",
        "--known-hosts",
        lab.knownHosts,
        "--json",
      ],
      {
        env: { HOME: home },
      },
    );
    expect(parseReport(run).proxies[0]).toMatchObject({ host: "127.0.0.1", port: port(1) });
    expect(parseReport(run).proxies[0]?.error).toBeUndefined();
  });

  it("a config that ssh cannot parse: exit 2 naming the file and line", async () => {
    const home = await homeWith("Host x\n  NoSuchOption yes\n");
    const run = await runCli(["verify", lab.paks.sample, "--proxy", "x", "--dry-run"], {
      env: { HOME: home },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^mp-sideload: SSH_CONFIG_INVALID: .*\.ssh\/config: .*line 2: Bad configuration option: nosuchoption/m,
    );
  });
});

describe("jump hosts", () => {
  const jumpConfig = (extra = "") =>
    `Host bastion\n  HostName 127.0.0.1\n  Port ${port(1)}\n  User root\n  IdentityFile ${lab.identity}\n\n` +
    `Host cp-behind-2 cp-behind-3\n  HostName 127.0.0.1\n  User root\n  IdentityFile ${lab.identity}\n  ProxyJump bastion\n${extra}` +
    `Host cp-behind-2\n  Port ${port(2)}\nHost cp-behind-3\n  Port ${port(3)}\n`;

  it("a proxy reached only through ProxyJump of another lab proxy is pulled; the jump's sshd shows the forwarded channel", async () => {
    await clearImages(lab, 2);
    const home = await homeWith(jumpConfig());
    const dry = await runCli(
      ["pull", lab.paks.sample, "--proxy", "cp-behind-2", "--known-hosts", lab.knownHosts, "--dry-run"],
      { env: { HOME: home } },
    );
    expect(dry.stdout).toMatch(/^ {2}cp-behind-2 via bastion {2}root@127\.0\.0\.1:\d+ /m);
    const before = await sshdLog(lab, 1);
    const run = await runCli(
      ["pull", lab.paks.sample, "--proxy", "cp-behind-2", "--known-hosts", lab.knownHosts, "--json"],
      {
        env: { HOME: home, ...registryEnv(lab) },
      },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(parseReport(run).proxies[0]?.status).toBe("pulled");
    expect(await repoDigests(lab, 2)).toContain(lab.sampleReference);
    const added = (await sshdLog(lab, 1)).slice(before.length);
    expect(added).toContain(
      `server_request_direct_tcpip: originator 127.0.0.1 port 0, target 127.0.0.1 port ${port(2)}`,
    );
  });

  it("two proxies behind one jump host share its connection: one more accepted connection on the jump, not two", async () => {
    const home = await homeWith(jumpConfig());
    const before = count(await sshdLog(lab, 1), "Connection from");
    const run = await runCli(
      [
        "verify",
        lab.paks.sample,
        "--proxy",
        "cp-behind-2",
        "--proxy",
        "cp-behind-3",
        "--known-hosts",
        lab.knownHosts,
        "--json",
      ],
      {
        env: { HOME: home },
      },
    );
    expect(parseReport(run).proxies.map((p) => p.error?.code)).toEqual([undefined, undefined]);
    expect(count(await sshdLog(lab, 1), "Connection from") - before).toBe(1);
  });

  it("the inventory's jump and --jump work too", async () => {
    const inventory = join(scratch, "jump.yaml");
    await writeFile(
      inventory,
      `defaults:\n  user: root\n  identity: ${lab.identity}\n  jump: root@127.0.0.1:${port(1)}\nproxies:\n  - {name: p2, host: 127.0.0.1, port: ${port(2)}}\n`,
    );
    const home = await homeWith("");
    const viaInventory = await runCli(
      [
        "verify",
        lab.paks.sample,
        "--inventory",
        inventory,
        "--known-hosts",
        lab.knownHosts,
        "--identity",
        lab.identity,
        "--json",
      ],
      {
        env: { HOME: home },
      },
    );
    expect(parseReport(viaInventory).proxies[0]?.error).toBeUndefined();
    const viaFlag = await runCli(
      [
        "verify",
        lab.paks.sample,
        "--proxy",
        `root@127.0.0.1:${port(3)}`,
        "--jump",
        `root@127.0.0.1:${port(1)}`,
        "--identity",
        lab.identity,
        "--known-hosts",
        lab.knownHosts,
        "--dry-run",
        "--json",
      ],
      { env: { HOME: home } },
    );
    const plan = (JSON.parse(viaFlag.stdout) as { plan: { route: string }[] }).plan;
    expect(plan[0]?.route).toBe(`you → 127.0.0.1 → 127.0.0.1:${port(3)}`);
  });

  it("a jump host whose key changed is refused, naming the hop; the target never sees a connection", async () => {
    const home = await homeWith(jumpConfig());
    const original = await readFile(lab.knownHosts, "utf8");
    // proxy-1 (the jump) recorded with proxy-3's key: a changed key for the hop.
    const p3Key = original
      .split("\n")
      .find((l) => l.startsWith(`[127.0.0.1]:${port(3)} `))
      ?.split(" ")
      .slice(1)
      .join(" ");
    const tampered = join(scratch, "known_hosts_tampered");
    await writeFile(
      tampered,
      original
        .split("\n")
        .map((l) => (l.startsWith(`[127.0.0.1]:${port(1)} `) ? `[127.0.0.1]:${port(1)} ${p3Key}` : l))
        .join("\n"),
    );
    const before = count(await sshdLog(lab, 2), "Connection from");
    const run = await runCli(
      ["verify", lab.paks.sample, "--proxy", "cp-behind-2", "--known-hosts", tampered, "--json"],
      { env: { HOME: home } },
    );
    const row = parseReport(run).proxies[0];
    expect(row?.error?.code).toBe("HOSTKEY_MISMATCH");
    expect(row?.error?.message).toMatch(
      /^jump host bastion \(127\.0\.0\.1:\d+\) on the way to cp-behind-2 presented host key/,
    );
    expect(count(await sshdLog(lab, 2), "Connection from")).toBe(before);
  });
});
