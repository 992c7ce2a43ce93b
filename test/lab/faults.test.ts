/**
 * Faults of the real world (issue #19) against the lab: Docker Hub references pulled through
 * a real engine's registry mirror, hostile local files (devices, FIFOs, symbolic links, an
 * empty HOME), and ssh configurations the tool must not misread.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli } from "./cli.js";
import {
  clearImages,
  engineOf,
  labCtl,
  loadLab,
  proxyAddress,
  pullDirect,
  registryEnv,
  type Lab,
} from "./lab.js";

let lab: Lab;
let scratch: string;

/** proxy-1 alone, as root with the lab's key. */
function proxyOne(extra: string[] = []): string[] {
  return [
    "--proxy",
    `root@${proxyAddress(lab, 1)}`,
    "--identity",
    lab.identity,
    "--known-hosts",
    lab.knownHosts,
    ...extra,
  ];
}

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-faults-"));
  // A lab whose engines started before the mirror was part of it: restart proxy-1's engine.
  const info = (await engineOf(lab, 1).info()) as { RegistryConfig?: { Mirrors?: string[] } };
  if (!(info.RegistryConfig?.Mirrors ?? []).some((m) => m.includes(lab.publicRegistry))) {
    await labCtl("stop-engine", "1");
    await labCtl("start-engine", "1");
  }
  await clearImages(lab, 1);
});

afterAll(async () => {
  await clearImages(lab, 1);
  await rm(scratch, { recursive: true, force: true });
});

describe("Docker Hub references (through the engine's registry mirror)", () => {
  const pak = (name: string) => join(lab.dir, "paks", `${name}.pak`);

  it.each([
    ["hub", "docker.io/mplab/hub-adapter"],
    ["hub-official", "docker.io/mp-hub-adapter"],
    ["hub-index", "index.docker.io/mplab/hub-adapter"],
  ])("%s.pak (%s): an image the engine pulled through its mirror is present", async (name, repository) => {
    await clearImages(lab, 1);
    await pullDirect(engineOf(lab, 1), `${repository}@${lab.sampleDigest}`);
    const verified = await runCli(["verify", pak(name), ...proxyOne(["--json"])]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(parseReport(verified).proxies[0]?.status).toBe("present");
    // pull finds it present (credentials given: the workstation cannot see Docker Hub here).
    const pulled = await runCli(["pull", pak(name), ...proxyOne(["--json"])], { env: registryEnv(lab) });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(parseReport(pulled).proxies[0]?.status).toBe("present");
  });

  // A pull from an empty engine also needs, outside this branch's files: verify (sideload-proxy.ts)
  // comparing with sameImageReference, and an anonymous pull when the workstation cannot reach
  // the registry and no source has credentials (sideload-command.ts settleRegistries).
  it.each([
    ["hub", "docker.io/mplab/hub-adapter"],
    ["hub-official", "docker.io/mp-hub-adapter"],
    ["hub-index", "index.docker.io/mplab/hub-adapter"],
  ])("%s.pak (%s): pull, verify, then present on a re-run", async (name, repository) => {
    await clearImages(lab, 1);
    const args = ["pull", pak(name), ...proxyOne(["--json"])];
    const first = await runCli(args);
    const report = parseReport(first);
    expect(first.code, first.stderr).toBe(0);
    expect(report.references).toEqual([`${repository}@${lab.sampleDigest}`]);
    expect(report.proxies[0]?.status).toBe("pulled");
    const again = parseReport(await runCli(args));
    expect(again.proxies[0]?.status).toBe("present");
    const verified = await runCli(["verify", pak(name), ...proxyOne(["--json"])]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(parseReport(verified).proxies[0]?.status).toBe("present");
  });

  it("registry.hub.docker.com stays distinct: the engine does not find a docker.io image under it", async () => {
    await clearImages(lab, 1);
    await pullDirect(engineOf(lab, 1), `docker.io/mplab/hub-adapter@${lab.sampleDigest}`);
    // The engine itself: the same repository and digest under registry.hub.docker.com is no such image.
    const engine = engineOf(lab, 1);
    await expect(
      engine.getImage(`registry.hub.docker.com/mplab/hub-adapter@${lab.sampleDigest}`).inspect(),
    ).rejects.toMatchObject({ statusCode: 404 });
    const verified = await runCli(["verify", pak("hub-legacy"), ...proxyOne(["--json"])]);
    expect(verified.code).toBe(1);
    expect(parseReport(verified).proxies[0]?.status).toBe("missing");
  });
});
