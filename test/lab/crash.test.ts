/**
 * Exit 2 says "usage or input error, and nothing was changed". A crash (INTERNAL) after a pull
 * changed a proxy must not claim that: it exits 1. The same crash where no proxy was changed
 * (every image already present, or `verify`) still exits 2. The crash is injected by a
 * test-only module in the real binary (test/support/crash-after-report.mjs), after the batch.
 */
import { fileURLToPath } from "node:url";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { clearImages, inventoryArgs, loadLab, registryEnv, repoDigests, type Lab } from "./lab.js";

const hook = fileURLToPath(new URL("../support/crash-after-report.mjs", import.meta.url));
let lab: Lab;

beforeAll(() => {
  lab = loadLab();
});

beforeEach(async () => {
  for (let p = 1; p <= lab.proxies; p++) await clearImages(lab, p);
});

/** `args` with the crash armed on the report's summary line. */
function crashing(args: string[]) {
  return runCli(args, {
    env: {
      ...registryEnv(lab),
      NODE_OPTIONS: `--import=${hook}`,
      MP_SIDELOAD_TEST_CRASH_ON: " in all\n",
    },
  });
}

describe("a crash after the batch", () => {
  it("after a pull changed the proxies: INTERNAL, exit 1, never 2", async () => {
    const run = await crashing(["pull", lab.paks.sample, ...inventoryArgs(lab)]);
    expect(run.stderr).toMatch(/mp-sideload: INTERNAL: injected crash after the report/);
    expect(run.code).toBe(1);
    // The pull did happen: the proxies were changed before the crash.
    for (let p = 1; p <= lab.proxies; p++) expect(await repoDigests(lab, p)).toContain(lab.sampleReference);
  });

  it("when nothing was changed (every image present, and verify): still exit 2", async () => {
    const first = await runCli(["pull", lab.paks.sample, ...inventoryArgs(lab)], { env: registryEnv(lab) });
    expect(first.code).toBe(0);
    const again = await crashing(["pull", lab.paks.sample, ...inventoryArgs(lab)]);
    expect(again.stderr).toMatch(/INTERNAL: injected crash/);
    expect(again.code).toBe(2);
    const verify = await crashing(["verify", lab.paks.sample, ...inventoryArgs(lab)]);
    expect(verify.stderr).toMatch(/INTERNAL: injected crash/);
    expect(verify.code).toBe(2);
  });

  it("without the hook armed, the same pull exits 0 (the hook alone makes the crash)", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...inventoryArgs(lab)], {
      env: { ...registryEnv(lab), NODE_OPTIONS: `--import=${hook}` },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/3 ok, 0 failed, 3 in all/);
  });
});
