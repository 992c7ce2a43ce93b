/**
 * Mistakes caught before anything changes: an output path that cannot be written, an identity
 * file or a known_hosts file that does not exist. Each exits 2 with its code, and no proxy sees
 * a connection (the proxies' sshd logs do not grow): before, `--report nodir/r.json` pulled onto
 * every proxy and then failed, and a missing --identity or --known-hosts was taken as empty.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { clearImages, inventoryArgs, loadLab, registryEnv, repoDigests, sshdLog, type Lab } from "./lab.js";

let lab: Lab;
let scratch: string;
const logs = () => Promise.all([1, 2, 3].map(async (p) => (await sshdLog(lab, p)).length));

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-early-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("mistakes found before any proxy is contacted", () => {
  it.each([
    ["pull", "--report", "DIR_NOT_FOUND"],
    ["verify", "--report", "DIR_NOT_FOUND"],
    ["pull", "--junit", "DIR_NOT_FOUND"],
    ["doctor", "--report", "DIR_NOT_FOUND"],
  ])(
    "%s %s in a folder that does not exist: %s, exit 2, no proxy contacted",
    async (command, option, code) => {
      await clearImages(lab, 1);
      const before = await logs();
      const pak = command === "doctor" ? ["--pak", lab.paks.sample] : [lab.paks.sample];
      const run = await runCli(
        [command, ...pak, ...inventoryArgs(lab), option, join(scratch, "nodir", "r.out"), "--json"],
        { env: registryEnv(lab) },
      );
      expect(run.code, run.stderr).toBe(2);
      expect(JSON.parse(run.stdout)).toMatchObject({ command, error: { code } });
      expect(run.stderr).not.toMatch(/INTERNAL|this is a bug/);
      expect(await logs()).toEqual(before);
      expect(await repoDigests(lab, 1)).not.toContain(lab.sampleReference);
    },
  );

  it("a --identity that does not exist: FILE_NOT_FOUND naming it, exit 2, no proxy contacted", async () => {
    const before = await logs();
    const missing = join(scratch, "id_missing");
    const run = await runCli(["verify", lab.paks.sample, ...inventoryArgs(lab), "--identity", missing]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("FILE_NOT_FOUND");
    expect(run.stderr).toContain(missing);
    expect(await logs()).toEqual(before);
  });

  it("a --known-hosts that does not exist: FILE_NOT_FOUND; with --accept-new-host-keys it is created 0600", async () => {
    const file = join(scratch, "known_hosts_new");
    const before = await logs();
    const args = [
      "verify",
      lab.paks.sample,
      ...["--proxy", `root@127.0.0.1:${lab.firstSshPort}`, "--identity", lab.identity],
      ...["--known-hosts", file],
    ];
    const refused = await runCli(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("FILE_NOT_FOUND");
    expect(await logs()).toEqual(before);
    const created = await runCli([...args, "--accept-new-host-keys"]);
    expect(created.code, created.stderr).toBe(1); // the image is missing: verify's own verdict
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
