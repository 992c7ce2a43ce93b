/**
 * Many paks in one run, on the lab's real sshd and engines: one SSH connection per proxy for
 * every image, a report row per proxy and reference, `--only-failed` retrying exactly the
 * failed pairs, a folder of paks.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli, type JsonReport } from "./cli.js";
import {
  clearImages,
  engineOf,
  inventoryArgs,
  loadLab,
  registryEnv,
  repoDigests,
  sshdLog,
  type Lab,
} from "./lab.js";

let lab: Lab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-many-"));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const proxies = [1, 2, 3];
/** Authenticated SSH connections so far ("Accepted publickey for root from …"; not "Accepted key …"). */
const accepted = async (proxy: number) =>
  (await sshdLog(lab, proxy)).split("\n").filter((l) => /^Accepted \S+ for /.test(l)).length;

async function clearAll(): Promise<void> {
  for (const p of proxies) await clearImages(lab, p);
}

describe("pull of several paks", () => {
  it("two paks onto three proxies: one SSH connection per proxy, both images on each, a row per pair", async () => {
    await clearAll();
    const before = await Promise.all(proxies.map(accepted));
    const run = await runCli(
      ["pull", lab.paks.sample, lab.paks.second, ...inventoryArgs(lab), "--json", "--concurrency", "3"],
      { env: registryEnv(lab) },
    );
    expect(run.code, run.stderr).toBe(0);
    const report = parseReport(run);
    expect(report.references).toEqual([lab.sampleReference, lab.secondReference]);
    expect(report.proxies.map((p) => [p.name, p.reference, p.status])).toEqual(
      proxies.flatMap((p) => [
        [`proxy-${p}`, lab.sampleReference, "pulled"],
        [`proxy-${p}`, lab.secondReference, "pulled"],
      ]),
    );
    const after = await Promise.all(proxies.map(accepted));
    expect(after.map((n, i) => n - (before[i] ?? 0))).toEqual([1, 1, 1]);
    for (const p of proxies) {
      expect(await repoDigests(lab, p)).toEqual(
        expect.arrayContaining([lab.sampleReference, lab.secondReference]),
      );
    }
  });

  it("--only-failed retries only the failed pair: one row, the other images untouched", async () => {
    // The first run's real report, with proxy-2's second image marked failed and cleared there.
    const first = await runCli(
      ["verify", lab.paks.sample, lab.paks.second, ...inventoryArgs(lab), "--json"],
      {},
    );
    expect(first.code, first.stderr).toBe(0);
    const report = parseReport(first);
    const failed: JsonReport = {
      ...report,
      proxies: report.proxies.map((p) =>
        p.name === "proxy-2" && p.reference === lab.secondReference
          ? { ...p, status: "failed", error: { code: "PULL_FAILED", message: "lab: marked failed" } }
          : p,
      ),
    };
    const file = join(scratch, "one-failed.json");
    await writeFile(file, JSON.stringify(failed));
    const p2 = engineOf(lab, 2);
    await p2.getImage(lab.secondReference).remove({ force: true });
    const idsBefore = await Promise.all(proxies.map(imageIds));

    const before = await Promise.all(proxies.map(accepted));
    const again = await runCli(
      ["pull", lab.paks.sample, lab.paks.second, ...inventoryArgs(lab), "--only-failed", file, "--json"],
      { env: registryEnv(lab) },
    );
    expect(again.code, again.stderr).toBe(0);
    expect(parseReport(again).proxies.map((p) => [p.name, p.reference, p.status])).toEqual([
      ["proxy-2", lab.secondReference, "pulled"],
    ]);
    const after = await Promise.all(proxies.map(accepted));
    expect(after.map((n, i) => n - (before[i] ?? 0))).toEqual([0, 1, 0]);
    // proxy-1 and proxy-3 untouched; proxy-2 kept its sample image and got the second back.
    expect(await imageIds(1)).toEqual(idsBefore[0]);
    expect(await imageIds(3)).toEqual(idsBefore[2]);
    expect(await repoDigests(lab, 2)).toEqual(
      expect.arrayContaining([lab.sampleReference, lab.secondReference]),
    );

    // The new report retried with --only-failed: nothing left, said so, exit 0.
    const done = join(scratch, "done.json");
    await writeFile(done, again.stdout);
    const nothing = await runCli([
      "pull",
      lab.paks.sample,
      lab.paks.second,
      ...inventoryArgs(lab),
      "--only-failed",
      done,
    ]);
    expect(nothing.code, nothing.stderr).toBe(0);
    expect(nothing.stderr).toMatch(/nothing to retry/);
  });

  it("a folder of paks: every *.pak in it", async () => {
    const folder = join(scratch, "paks");
    await mkdir(folder);
    await copyFile(lab.paks.sample, join(folder, "a.pak"));
    await copyFile(lab.paks.second, join(folder, "b.pak"));
    await writeFile(join(folder, "notes.txt"), "not a pak");
    await clearImages(lab, 3);
    const run = await runCli(["pull", folder, ...inventoryArgs(lab), "--limit", "proxy-3", "--json"], {
      env: registryEnv(lab),
    });
    expect(run.code, run.stderr).toBe(0);
    const report = parseReport(run);
    expect(new Set(report.references)).toEqual(new Set([lab.sampleReference, lab.secondReference]));
    expect(report.proxies.map((p) => p.status)).toEqual(["pulled", "pulled"]);
    expect(await repoDigests(lab, 3)).toEqual(
      expect.arrayContaining([lab.sampleReference, lab.secondReference]),
    );
    expect(await readFile(join(folder, "notes.txt"), "utf8")).toBe("not a pak");
  });
});

async function imageIds(proxy: number): Promise<string[]> {
  return (await engineOf(lab, proxy).listImages()).map((i) => i.Id).sort();
}
