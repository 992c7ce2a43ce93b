/**
 * The file rules every input and output goes through: regular files only, bounded reads that end
 * with the run, writes through a rename that never follow a link, and the home folder.
 */
import { execFileSync } from "node:child_process";
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkWritableOutput, homeDir, readRegularFile, writeFileAtomic } from "../src/files.js";

let dir: string;
let fifo: string;
const rules = { what: "test file", hint: "give another", maxBytes: 1024 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-files-"));
  fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("readRegularFile", () => {
  it.each([
    ["/dev/zero", "FILE_UNREADABLE", "is a device, not a regular file"],
    ["FIFO", "FILE_UNREADABLE", "is a named pipe, not a regular file"],
    ["folder", "FILE_UNREADABLE", "is a folder"],
    ["missing", "FILE_NOT_FOUND", "no such file"],
  ])("refuses %s at once (%s)", async (name, code, words) => {
    const file =
      name === "FIFO" ? fifo : name === "folder" ? dir : name === "missing" ? join(dir, "nope") : name;
    const started = Date.now();
    await expect(readRegularFile(file, rules)).rejects.toMatchObject({
      code,
      message: expect.stringContaining(words) as string,
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("refuses a file larger than the cap, and reads one within it", async () => {
    const big = join(dir, "big");
    await writeFile(big, Buffer.alloc(2048));
    await expect(readRegularFile(big, rules)).rejects.toMatchObject({
      message: expect.stringContaining("2048 bytes") as string,
    });
    const small = join(dir, "small");
    await writeFile(small, "key");
    expect((await readRegularFile(small, rules)).toString()).toBe("key");
  });

  it("ends with the run's signal", async () => {
    const small = join(dir, "small2");
    await writeFile(small, "key");
    const signal = AbortSignal.abort(new Error("deadline"));
    await expect(readRegularFile(small, { ...rules, signal })).rejects.toThrow("deadline");
  });
});

describe("checkWritableOutput and writeFileAtomic", () => {
  it("replaces a planted symbolic link and leaves the file it pointed at untouched", async () => {
    const victim = join(dir, "victim");
    await writeFile(victim, "precious");
    const report = join(dir, "report.json");
    await symlink(victim, report);
    await expect(checkWritableOutput(report, "report")).rejects.toMatchObject({
      code: "FILE_NOT_WRITABLE",
      message: expect.stringContaining("a symbolic link") as string,
    });
    await expect(writeFileAtomic(report, "{}", { mode: 0o644, what: "report" })).rejects.toMatchObject({
      code: "FILE_NOT_WRITABLE",
    });
    expect(await readFile(victim, "utf8")).toBe("precious");
    expect(await readlink(report)).toBe(victim);
  });

  it("writes a new file, and replaces a regular one, with the mode asked and no temporary left", async () => {
    const sub = join(dir, "out");
    await mkdir(sub);
    const report = join(sub, "report.json");
    await writeFileAtomic(report, "one", { mode: 0o640, what: "report" });
    await writeFileAtomic(report, "two", { mode: 0o640, what: "report" });
    expect(await readFile(report, "utf8")).toBe("two");
    expect((await stat(report)).mode & 0o777).toBe(0o640);
    expect((await lstat(report)).isFile()).toBe(true);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(sub)).toEqual(["report.json"]);
  });

  it.each([
    ["a FIFO", () => fifo, "FILE_NOT_WRITABLE", "a named pipe"],
    ["a folder", () => dir, "FILE_NOT_WRITABLE", "a folder"],
    ["a missing folder", () => join(dir, "nodir", "r.json"), "DIR_NOT_FOUND", "does not exist"],
    ["a file as folder", () => join(dir, "small", "r.json"), "DIR_NOT_FOUND", ""],
  ])("refuses %s", async (_name, path, code, words) => {
    await writeFile(join(dir, "small"), "key");
    await expect(checkWritableOutput(path(), "--report")).rejects.toMatchObject({
      code,
      message: expect.stringContaining(words) as string,
    });
  });
});

describe("homeDir", () => {
  it.each([
    [{ HOME: "/home/someone" }, "/home/someone"],
    [{ HOME: "" }, userInfo().homedir],
    [{ HOME: "relative/home" }, userInfo().homedir],
    [{ HOME: "." }, userInfo().homedir],
    [{}, userInfo().homedir],
  ])("%j → %s", (env, expected) => expect(homeDir(env)).toBe(expected));
});
