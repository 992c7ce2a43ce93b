import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerConfigFile } from "../../src/credentials/docker-config.js";
import { defaultIdentities } from "../../src/ssh/connect.js";
import { appendKnownHost, defaultKnownHostsFile, loadKnownHosts } from "../../src/ssh/known-hosts-file.js";

let dir: string;
const line = "[10.0.0.9]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0\n";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-kh-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("appendKnownHost", () => {
  it.each([
    [
      "without a final newline",
      "a ssh-ed25519 AAAA\nb ssh-ed25519 BBBB",
      "a ssh-ed25519 AAAA\nb ssh-ed25519 BBBB\n",
    ],
    ["with a final newline", "a ssh-ed25519 AAAA\n", "a ssh-ed25519 AAAA\n"],
    ["empty", "", ""],
    [
      "with CRLF lines and no final newline",
      "a ssh-ed25519 AAAA\r\nb ssh-ed25519 BBBB",
      "a ssh-ed25519 AAAA\r\nb ssh-ed25519 BBBB\n",
    ],
  ])("adds the line on its own to a file %s, keeping every earlier byte", async (_what, before, kept) => {
    const file = join(dir, `kh-${Math.random().toString(36).slice(2)}`);
    await writeFile(file, before);
    await appendKnownHost(file, line);
    expect(await readFile(file, "utf8")).toBe(kept + line);
  });

  it("keeps the file's mode and writes through a symbolic link, not over it", async () => {
    const real = join(dir, "real_known_hosts");
    const link = join(dir, "link_known_hosts");
    await writeFile(real, "a ssh-ed25519 AAAA");
    await chmod(real, 0o644);
    await symlink(real, link);
    await appendKnownHost(link, line);
    expect((await stat(real)).mode & 0o777).toBe(0o644);
    expect(await readFile(real, "utf8")).toBe(`a ssh-ed25519 AAAA\n${line}`);
    await expect((await import("node:fs/promises")).readlink(link)).resolves.toBe(real);
  });

  it("creates a missing file (and folder) with mode 600, and leaves no temporary file", async () => {
    const file = join(dir, "new", "known_hosts");
    await appendKnownHost(file, line);
    expect(await readFile(file, "utf8")).toBe(line);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(join(dir, "new"))).toEqual(["known_hosts"]);
  });

  it("writes nothing for /dev/null, as OpenSSH's UserKnownHostsFile=/dev/null", async () => {
    await expect(appendKnownHost("/dev/null", line)).resolves.toBeUndefined();
    expect(await loadKnownHosts("/dev/null")).toEqual([]);
  });

  it("serialised appends from one run keep every line", async () => {
    const file = join(dir, "many");
    await writeFile(file, "x ssh-ed25519 XXXX");
    for (let i = 0; i < 5; i++) await appendKnownHost(file, `h${i} ssh-ed25519 AAAA\n`);
    expect((await readFile(file, "utf8")).split("\n")).toEqual([
      "x ssh-ed25519 XXXX",
      ...[0, 1, 2, 3, 4].map((i) => `h${i} ssh-ed25519 AAAA`),
      "",
    ]);
  });
});

describe("loadKnownHosts", () => {
  it("refuses a device other than /dev/null, naming it", async () => {
    await expect(loadKnownHosts("/dev/zero")).rejects.toThrow(
      /\/dev\/zero: the known_hosts file is a device, not a regular file/,
    );
  });
  it("reads a missing file as empty", async () => {
    expect(await loadKnownHosts(join(dir, "absent"))).toEqual([]);
  });
});

describe("the default files when HOME is empty or relative", () => {
  it.each([{ HOME: "" }, { HOME: "." }, { HOME: "somewhere" }])(
    "%j: the password database's home, never the working folder",
    (env) => {
      const home = userInfo().homedir;
      expect(defaultKnownHostsFile(env)).toBe(join(home, ".ssh", "known_hosts"));
      expect(defaultIdentities(env)).toEqual(
        ["id_ed25519", "id_ecdsa", "id_rsa"].map((k) => join(home, ".ssh", k)),
      );
      expect(dockerConfigFile(env)).toBe(join(home, ".docker", "config.json"));
    },
  );
});
