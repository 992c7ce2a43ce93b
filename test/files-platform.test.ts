/**
 * The file rules on each platform, with the platform given as a parameter (no macOS or Windows
 * machine runs CI): the home folder, programs on PATH, and a rename over a file that Windows
 * reports as held open by another process.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join, win32 } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SideloadError } from "../src/errors.js";
import { findOnPath, homeDir, renameOver } from "../src/files.js";

describe("homeDir", () => {
  it.each([
    ["linux", { HOME: "/home/ann" }, "/home/ann"],
    ["darwin", { HOME: "/Users/ann" }, "/Users/ann"],
    ["win32", { USERPROFILE: "C:\\Users\\ann", HOME: "/c/Users/ann" }, "C:\\Users\\ann"],
    ["win32", { USERPROFILE: "\\\\server\\home\\ann" }, "\\\\server\\home\\ann"],
  ] as const)("%s, %j → %s", (platform, env, home) => {
    expect(homeDir(env, platform)).toBe(home);
  });

  it.each([
    ["linux", { HOME: "relative" }],
    ["win32", { USERPROFILE: "relative\\ann" }],
    ["win32", {}],
  ] as const)("%s, %j: the password database's entry, never a relative folder", (platform, env) => {
    expect(homeDir(env, platform)).toBe(userInfo().homedir);
  });
});

describe("findOnPath", () => {
  const files = new Set([
    "/usr/local/bin/docker-credential-osxkeychain",
    "/usr/bin/ssh",
    "C:\\Program Files\\Docker\\Docker\\resources\\bin\\docker-credential-desktop.exe",
    "C:\\Program Files\\Docker\\Docker\\resources\\bin\\docker-credential-wincred.cmd",
    "C:\\Windows\\System32\\OpenSSH\\ssh.exe",
  ]);
  const isFile = (path: string) => files.has(path);
  const windowsPath = {
    Path: 'C:\\Windows\\System32\\OpenSSH;;"C:\\Program Files\\Docker\\Docker\\resources\\bin"',
  };

  it.each([
    [
      "darwin",
      { PATH: "/usr/bin:/usr/local/bin" },
      "docker-credential-osxkeychain",
      "/usr/local/bin/docker-credential-osxkeychain",
    ],
    ["linux", { PATH: "/usr/local/bin:/usr/bin" }, "ssh", "/usr/bin/ssh"],
    ["linux", { PATH: "/usr/local/bin" }, "ssh", undefined],
    ["win32", windowsPath, "ssh", "C:\\Windows\\System32\\OpenSSH\\ssh.exe"],
    [
      "win32",
      windowsPath,
      "docker-credential-desktop",
      "C:\\Program Files\\Docker\\Docker\\resources\\bin\\docker-credential-desktop.exe",
    ],
    // A .cmd helper would need a shell: not run.
    ["win32", windowsPath, "docker-credential-wincred", undefined],
    // Windows' variable names are case-insensitive.
    ["win32", { PATH: "C:\\Windows\\System32\\OpenSSH" }, "ssh", "C:\\Windows\\System32\\OpenSSH\\ssh.exe"],
  ] as const)("%s: %s on %j → %s", (platform, env, name, found) => {
    expect(findOnPath(name, env, platform, isFile)).toBe(found);
  });

  it("finds a real program here", () => {
    expect(findOnPath("sh", { PATH: "/usr/bin:/bin" })).toMatch(/\/sh$/);
    expect(win32.basename(findOnPath("ssh", windowsPath, "win32", isFile) ?? "")).toBe("ssh.exe");
  });
});

describe("renameOver", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mp-sideload-rename-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const busy = (code: string) =>
    Object.assign(new Error(`${code}: operation not permitted, rename`), { code });

  it("on Windows, retries while the target is held open, then replaces it", async () => {
    const from = join(dir, "new");
    const to = join(dir, "report.json");
    await writeFile(from, "new");
    await writeFile(to, "old");
    let tries = 0;
    await renameOver(from, to, {
      platform: "win32",
      delaysMs: [1, 1, 1],
      rename: async (a, b) => {
        if (++tries < 3) throw busy(tries === 1 ? "EPERM" : "EBUSY");
        const { rename } = await import("node:fs/promises");
        await rename(a, b);
      },
    });
    expect(tries).toBe(3);
    expect(await readFile(to, "utf8")).toBe("new");
  });

  it("on Windows, a target held open past the last try is one clear error", async () => {
    const error = await renameOver("a", join(dir, "report.json"), {
      platform: "win32",
      delaysMs: [1, 1],
      rename: () => Promise.reject(busy("EACCES")),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SideloadError);
    expect((error as SideloadError).code).toBe("FILE_NOT_WRITABLE");
    expect((error as SideloadError).message).toBe(
      `${join(dir, "report.json")}: cannot replace it: another program keeps it open (EACCES after 3 tries)`,
    );
    expect((error as SideloadError).hint).toMatch(/close what has report\.json open/);
  });

  it.each(["linux", "darwin"] as const)(
    "on %s, EPERM is not retried (it is a real refusal there)",
    async (platform) => {
      let tries = 0;
      const error = await renameOver("a", "b", {
        platform,
        rename: () => {
          tries++;
          return Promise.reject(busy("EPERM"));
        },
      }).catch((e: unknown) => e);
      expect(tries).toBe(1);
      expect((error as NodeJS.ErrnoException).code).toBe("EPERM");
    },
  );

  it("on Windows, an error other than a held file is not retried", async () => {
    let tries = 0;
    await expect(
      renameOver("a", "b", {
        platform: "win32",
        rename: () => {
          tries++;
          return Promise.reject(busy("ENOENT"));
        },
      }),
    ).rejects.toMatchObject({ code: "ENOENT" });
    expect(tries).toBe(1);
  });
});
