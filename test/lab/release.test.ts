/**
 * The release end to end: the pull/verify path once through each artefact (the .mjs with node,
 * the single executable with no Node.js on PATH), each copied to a folder of its own, against the
 * lab's real sshd, dockerd and registry. The release is built first when missing or stale
 * (test/release/artefacts.ts). Assertions on exit status, the JSON document and the proxies' state.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTimeoutMs, copiedRelease, run, type Copied } from "../release/artefacts.js";
import { clearImages, inventoryArgs, loadLab, registryEnv, repoDigests, type Lab } from "./lab.js";

let lab: Lab;
let release: Copied;

interface Report {
  command: string;
  references: string[];
  proxies: { name: string; status: string; transport?: string }[];
  summary: { ok: number; failed: number; total: number };
}

async function clearAll(): Promise<void> {
  for (let p = 1; p <= lab.proxies; p++) await clearImages(lab, p);
}

beforeAll(async () => {
  lab = loadLab();
  release = await copiedRelease();
}, buildTimeoutMs);
afterAll(async () => {
  await release.close();
});

describe.each(["mp-sideload.mjs", "mp-sideload-linux-x64"])("%s", (name) => {
  it("pulls onto every proxy, then verify finds the exact reference everywhere", async () => {
    const artefact = release.artefacts.find((a) => a.name === name);
    if (!artefact) throw new Error(`${name} is not built on ${process.platform}-${process.arch}`);
    await clearAll();
    const pull = await run(artefact.command, ["pull", lab.paks.sample, ...inventoryArgs(lab), "--json"], {
      path: artefact.path,
      env: registryEnv(lab),
    });
    expect(pull.code, pull.stderr).toBe(0);
    const pulled = JSON.parse(pull.stdout) as Report;
    expect(pulled.command).toBe("pull");
    expect(pulled.references).toEqual([lab.sampleReference]);
    expect(pulled.proxies.map((p) => [p.name, p.status, p.transport])).toEqual(
      Array.from({ length: lab.proxies }, (_, i) => [`proxy-${i + 1}`, "pulled", "stream-local"]),
    );
    expect(pulled.summary).toEqual({ ok: lab.proxies, failed: 0, total: lab.proxies });
    for (let p = 1; p <= lab.proxies; p++) expect(await repoDigests(lab, p)).toContain(lab.sampleReference);
    // No password anywhere in what the run printed.
    expect(pull.stdout + pull.stderr).not.toContain(lab.registryPassword);

    const verify = await run(artefact.command, ["verify", lab.paks.sample, ...inventoryArgs(lab), "--json"], {
      path: artefact.path,
    });
    expect(verify.code, verify.stderr).toBe(0);
    const verified = JSON.parse(verify.stdout) as Report;
    expect(verified.proxies.map((p) => p.status)).toEqual(Array(lab.proxies).fill("present"));

    await clearImages(lab, 2);
    const missing = await run(
      artefact.command,
      ["verify", lab.paks.sample, ...inventoryArgs(lab), "--json"],
      {
        path: artefact.path,
      },
    );
    expect(missing.code).toBe(1);
    const report = JSON.parse(missing.stdout) as Report;
    expect(report.proxies.find((p) => p.name === "proxy-2")?.status).toBe("missing");
    expect(await repoDigests(lab, 2)).toEqual([]);
  });
});
