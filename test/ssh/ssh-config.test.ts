import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSshConfig } from "../../src/ssh/ssh-config.js";
import { resolveRoutes } from "../../src/resolve/routes.js";
import { parseProxyArg } from "../../src/inventory/proxy.js";

let home: string;
// Include first: inside a Host block it would apply only when that block matches, as in ssh.
// Absolute: ssh resolves a relative Include against the account's home, not $HOME.
const config = (home: string) => `Include ${home}/.ssh/conf.d/*.conf
Host cp-*
  User ops
  IdentityFile ~/.ssh/%h.key
  ProxyJump jump1
  StrictHostKeyChecking accept-new
  UserKnownHostsFile ~/.ssh/fleet_hosts
  ConnectTimeout 7
Host cp-east-1
  HostName 10.0.0.5
  Port 2222
  User first-value-wins
Host jump1
  HostName 192.0.2.1
  User bastion-user
`;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "mp-sideload-sshcfg-"));
  await mkdir(join(home, ".ssh", "conf.d"), { recursive: true });
  await writeFile(join(home, ".ssh", "config"), config(home));
  await writeFile(join(home, ".ssh", "conf.d", "extra.conf"), "Host included\n  HostName 198.51.100.7\n");
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

// Both readers must agree: OpenSSH's own (ssh -G) and the parser used where ssh is missing.
describe.each([
  ["ssh -G", () => ({ HOME: home, PATH: process.env.PATH ?? "" })],
  ["the ssh-config parser", () => ({ HOME: home, PATH: "/nonexistent" })],
])("the ssh config through %s", (via, env) => {
  it("applies the first value of each key, tokens and ~ expanded", async () => {
    const reader = openSshConfig(undefined, env());
    expect(reader?.via).toContain(via === "ssh -G" ? "ssh -G" : "ssh-config parser");
    const found = await reader?.lookup("cp-east-1");
    expect(found).toMatchObject({
      hostname: "10.0.0.5",
      port: 2222,
      user: "ops",
      identityFiles: [join(home, ".ssh", "10.0.0.5.key")],
      proxyJump: ["jump1"],
      strictHostKeyChecking: "accept-new",
      // ssh itself expands ~ there with the account's home (passwd), not $HOME.
      userKnownHostsFiles: [join(via === "ssh -G" ? userInfo().homedir : home, ".ssh", "fleet_hosts")],
      connectTimeoutMs: 7000,
    });
    expect(await reader?.lookup("included")).toMatchObject({ hostname: "198.51.100.7" });
    expect(await reader?.lookup("unrelated.example.com")).toEqual({});
  });

  it("resolves routes: explicit user and port win, jump hosts resolved through the config", async () => {
    const reader = openSshConfig(undefined, env());
    const [alias, explicit] = await resolveRoutes(
      [parseProxyArg("cp-east-1", "root", false), parseProxyArg("admin@cp-east-1:22", "root", false)],
      reader,
      { defaultUser: "root" },
    );
    expect(alias).toMatchObject({
      name: "cp-east-1",
      host: "10.0.0.5",
      port: 2222,
      user: "ops",
      acceptNewHostKey: true,
    });
    expect(alias?.jump).toEqual([{ name: "jump1", host: "192.0.2.1", port: 22, user: "bastion-user" }]);
    expect(explicit).toMatchObject({ host: "10.0.0.5", port: 22, user: "admin" });
  });
});

describe("openSshConfig", () => {
  it("none: no config; an absent default: none; an absent --ssh-config FILE: an error", () => {
    expect(openSshConfig("none", { HOME: home })).toBeUndefined();
    expect(openSshConfig(undefined, { HOME: join(home, "nowhere") })).toBeUndefined();
    expect(() => openSshConfig(join(home, "absent"), { HOME: home })).toThrow(
      /absent: cannot read the --ssh-config file: no such file/,
    );
  });

  it("a device as --ssh-config is not a regular file (not 'not found'), and fails at once", () => {
    expect(() => openSshConfig("/dev/zero", { HOME: home })).toThrow(
      expect.objectContaining({
        code: "FILE_UNREADABLE",
        message: "/dev/zero: the --ssh-config file is a device, not a regular file",
      }) as Error,
    );
  });
});

describe.each([
  ["ssh -G", () => ({ HOME: home, PATH: process.env.PATH ?? "" })],
  ["the ssh-config parser", () => ({ HOME: home, PATH: "/nonexistent" })],
])("a hostile ssh config through %s", (_via, env) => {
  it("a 5 MB line is named by its number, at once", async () => {
    const file = join(home, "long.conf");
    await writeFile(file, `Host x\n  HostName ${"a".repeat(5 * 1024 * 1024)}\n`);
    const started = Date.now();
    expect(() => openSshConfig(file, env())).toThrow(
      expect.objectContaining({
        code: "SSH_CONFIG_INVALID",
        message: expect.stringMatching(/long\.conf:2: the line is 5242891 characters long/) as string,
      }) as Error,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("ProxyCommand is refused (exit 2), never ignored; ProxyCommand none is no command", async () => {
    const file = join(home, "proxycommand.conf");
    await writeFile(
      file,
      "Host via-command\n  ProxyCommand ssh -W %h:%p bastion\nHost direct\n  ProxyCommand none\n  Port 2200\n",
    );
    const reader = openSshConfig(file, env());
    await expect(reader?.lookup("via-command")).rejects.toMatchObject({
      code: "SSH_CONFIG_INVALID",
      exitStatus: 2,
      message: expect.stringContaining("does not run ProxyCommand") as string,
      hint: expect.stringContaining("ProxyJump") as string,
    });
    expect(await reader?.lookup("direct")).toEqual({ port: 2200 });
  });
});
