/**
 * Identity files: regular files of bounded size only, read before any connection; and an
 * authentication failure that names the user and every method and key tried. Against ssh2's own
 * Server in-process, which refuses every method.
 */
import { SshRunState } from "../../src/ssh/run-state.js";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Proxy } from "../../src/inventory/proxy.js";
import { checkIdentityFiles, connectProxy } from "../../src/ssh/connect.js";
import { parseKnownHosts } from "../../src/ssh/known-hosts.js";

let dir: string;
let fifo: string;
let key: string;
let server: ssh2.Server;
let port: number;
let hostLine: string;

const proxy = (extra: Partial<Proxy> = {}): Proxy => ({
  name: "p",
  host: "127.0.0.1",
  port,
  user: "operator",
  groups: [],
  ...extra,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-identity-"));
  fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  key = join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host")]);
  server = new ssh2.Server({ hostKeys: [await readFile(join(dir, "host"))] }, (client) => {
    client.on("authentication", (ctx) => ctx.reject(["publickey", "password"]));
    client.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  const pub = (await readFile(join(dir, "host.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
  hostLine = `[127.0.0.1]:${port} ${pub}\n`;
});

afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe("checkIdentityFiles", () => {
  it.each([
    ["/dev/zero", "--identity", "FILE_UNREADABLE", "a device"],
    ["FIFO", "--identity", "FILE_UNREADABLE", "a named pipe"],
    ["FIFO", "ssh config IdentityFile", "FILE_UNREADABLE", "a named pipe"],
    ["/dev/zero", "inventory identity", "FILE_UNREADABLE", "a device"],
    ["missing", "--identity", "FILE_NOT_FOUND", "no such file"],
    ["missing", "inventory identity", "FILE_NOT_FOUND", "no such file"],
  ])("%s as %s → %s at once, exit 2", async (what, where, code, words) => {
    const file = what === "FIFO" ? fifo : what === "missing" ? join(dir, "nope") : what;
    const target =
      where === "ssh config IdentityFile"
        ? proxy({ identityFiles: [file] })
        : where === "inventory identity"
          ? proxy({ identity: file })
          : proxy();
    const started = Date.now();
    await expect(
      checkIdentityFiles([target], { identities: where === "--identity" ? [file] : [] }, new SshRunState()),
    ).rejects.toMatchObject({ code, exitStatus: 2, message: expect.stringContaining(words) as string });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("passes over an ssh config IdentityFile that does not exist (as OpenSSH does)", async () => {
    await expect(
      checkIdentityFiles(
        [proxy({ identityFiles: [join(dir, "nope")] })],
        { identities: [key] },
        new SshRunState(),
      ),
    ).resolves.toBeUndefined();
  });
});

describe("connectProxy", () => {
  const options = (identities: string[], password?: string) => ({
    hostKeys: { knownHostsFile: join(dir, "known_hosts"), acceptNew: false },
    auth: {
      identities,
      defaultIdentities: [join(dir, "id_absent")],
      ...(password === undefined ? {} : { password: () => Promise.resolve(password) }),
    },
    readyTimeoutMs: 5000,
  });

  it("refuses a /dev/zero identity before connecting", async () => {
    await expect(
      connectProxy(proxy(), parseKnownHosts(hostLine), options(["/dev/zero"])),
    ).rejects.toMatchObject({ code: "FILE_UNREADABLE" });
  });

  it("SSH_AUTH_FAILED names the user, each method and key tried, and the keys not offered", async () => {
    const bad = join(dir, "not-a-key");
    await writeFile(bad, "hello");
    const error = (await connectProxy(
      proxy({ identityFiles: [join(dir, "gone")] }),
      parseKnownHosts(hostLine),
      options([key, bad], "pw-s3cret"),
    ).then(
      () => new Error("connected"),
      (e: unknown) => e,
    )) as Error & { code: string };
    expect(error.code).toBe("SSH_AUTH_FAILED");
    expect(error.message).toContain("user operator");
    expect(error.message).toContain(`key ${key}`);
    expect(error.message).toContain("password");
    expect(error.message).toContain(`key ${bad} (not a private key ssh2 can read)`);
    expect(error.message).toContain(`key ${join(dir, "gone")} (no such file)`);
    expect(error.message).not.toContain("pw-s3cret");
    expect(error.message).not.toContain("id_absent");
  });
});
