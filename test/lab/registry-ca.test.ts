/**
 * `--registry-ca` done right: validated before any connection, written over SFTP only when it
 * differs, through a temporary file and a rename, reported per proxy. All lab engines share
 * this machine's /etc/docker/certs.d, so the lab's own CA entry is removed here and restored.
 */
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli } from "./cli.js";
import { clearImages, loadLab, inventoryArgs, type Lab, registryEnv } from "./lab.js";

let lab: Lab;
let scratch: string;
let certsD: string;
let saved: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-ca-"));
  certsD = `/etc/docker/certs.d/${lab.registry}`;
  saved = join(scratch, "saved-ca.crt");
  await copyFile(join(certsD, "ca.crt"), saved);
});

afterAll(async () => {
  await mkdir(certsD, { recursive: true });
  await copyFile(saved, join(certsD, "ca.crt"));
  await rm(scratch, { recursive: true, force: true });
});

const pull = (extra: string[] = []) =>
  runCli(["pull", lab.paks.sample, ...inventoryArgs(lab), "--limit", "proxy-1", "--json", ...extra], {
    env: registryEnv(lab),
  });

describe("--registry-ca", () => {
  it("without the CA the proxy fails REGISTRY_UNTRUSTED_CA naming the option; with it, installed then unchanged", async () => {
    await rm(certsD, { recursive: true, force: true });
    await clearImages(lab, 1);
    const untrusted = await pull();
    expect(untrusted.code).toBe(1);
    const row = parseReport(untrusted).proxies[0];
    expect(row?.error?.code).toBe("REGISTRY_UNTRUSTED_CA");
    expect(row?.error?.hint).toContain("--registry-ca");

    const installed = await pull(["--registry-ca", lab.caFile]);
    expect(installed.code, installed.stderr).toBe(0);
    expect(parseReport(installed).proxies[0]).toMatchObject({ status: "pulled", registryCa: "installed" });
    expect(await readFile(join(certsD, "ca.crt"), "utf8")).toBe(await readFile(lab.caFile, "utf8"));
    expect((await stat(join(certsD, "ca.crt"))).mode & 0o777).toBe(0o644);
    expect(await readdir(certsD)).toEqual(["ca.crt"]);

    const before = await stat(join(certsD, "ca.crt"));
    await clearImages(lab, 1); // so that the next run logs in (and looks at the CA) again
    const again = await pull(["--registry-ca", lab.caFile]);
    expect(again.code, again.stderr).toBe(0);
    expect(parseReport(again).proxies[0]).toMatchObject({ status: "pulled", registryCa: "unchanged" });
    const after = await stat(join(certsD, "ca.crt"));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it("leaves other files in the registry's certs.d folder alone", async () => {
    await mkdir(certsD, { recursive: true });
    // The engine reads *.crt, *.cert and *.key there: a note is the harmless file to keep.
    await writeFile(join(certsD, "NOTE.txt"), "not ours");
    await writeFile(join(certsD, "ca.crt"), await readFile(join(lab.dir, "registry/server.crt"), "utf8"));
    await clearImages(lab, 1);
    const run = await pull(["--registry-ca", lab.caFile]);
    expect(run.code, run.stderr).toBe(0);
    expect(parseReport(run).proxies[0]?.registryCa).toBe("installed");
    expect(await readFile(join(certsD, "NOTE.txt"), "utf8")).toBe("not ours");
    expect(await readFile(join(certsD, "ca.crt"), "utf8")).toBe(await readFile(lab.caFile, "utf8"));
    expect((await readdir(certsD)).sort()).toEqual(["NOTE.txt", "ca.crt"]);
    await rm(join(certsD, "NOTE.txt"));
  });

  it.each([
    ["a file that is not PEM", "hello\n"],
    [
      "a PEM block that is not a certificate",
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    ],
    ["a certificate followed by junk", "JUNK"],
  ])("refuses %s with exit 2 before any connection", async (_what, text) => {
    const file = join(scratch, "bad.pem");
    await writeFile(file, text === "JUNK" ? `${await readFile(lab.caFile, "utf8")}\nJUNK\n` : text);
    const log = join(lab.dir, "proxies", "proxy-1", "sshd.log");
    const connectionsBefore = (await readFile(log, "utf8")).split("Connection from").length;
    const run = await pull(["--registry-ca", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^mp-sideload: USAGE: --registry-ca .*bad\.pem: (not PEM certificates|certificate 1 cannot be read)/,
    );
    expect((await readFile(log, "utf8")).split("Connection from").length).toBe(connectionsBefore);
  });
});
