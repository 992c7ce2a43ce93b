/**
 * bin/mp-sideload in a checkout that was not built: one line saying what to run, exit 2, no
 * ERR_MODULE_NOT_FOUND stack. The shim is copied into a temp tree that has no dist/.
 */
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";

const shim = join(import.meta.dirname, "../bin/mp-sideload");
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-unbuilt-"));
  await mkdir(join(dir, "bin"));
  await copyFile(shim, join(dir, "bin/mp-sideload"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("an unbuilt checkout prints one line naming npm ci and exits 2", () => {
  const run = spawnSync(process.execPath, [join(dir, "bin/mp-sideload"), "inspect", "x.pak"], {
    encoding: "utf8",
  });
  expect(run.status).toBe(2);
  expect(run.stdout).toBe("");
  expect(run.stderr).toBe("mp-sideload: this checkout is not built; run `npm ci` (or `npm run build`)\n");
});
