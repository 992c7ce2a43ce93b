/**
 * `install` at a real terminal (tmux): one question naming the sideloads and the install, then
 * the live board showing the install's state and its elapsed time, then the report.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tmuxTerminal } from "../support/tmux.js";
import { bin, clearImages, loadLab, type Lab } from "./lab.js";
import { loadOpsLab, type OpsLab } from "./ops-lab.js";

const { tmux, waitForScreen, stop, shutdown } = tmuxTerminal("install-tty", "i");

let lab: Lab;
let ops: OpsLab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  ops = loadOpsLab(lab);
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-install-tty-"));
});
afterEach(async () => {
  await stop();
});
afterAll(async () => {
  await shutdown();
  await rm(scratch, { recursive: true, force: true });
  for (const proxy of [1, 2]) await clearImages(lab, proxy);
});

function casa(switches: Record<string, unknown>): void {
  execFileSync("curl", [
    "-sf",
    "--cacert",
    lab.caFile,
    "-X",
    "POST",
    "-d",
    JSON.stringify(switches),
    `${ops.url}/_sim/casa/install`,
  ]);
}

describe("install in a terminal", () => {
  it("asks once for the whole run, then the board shows the install's state and time", async () => {
    for (const proxy of [1, 2]) await clearImages(lab, proxy);
    casa({ reset: true, candidateMs: 500, progressMs: 6000 });
    const script = join(scratch, "install.sh");
    // The secrets come from files into the environment: none is on a command line.
    await writeFile(
      script,
      `#!/bin/sh\nunset CI\nexport NODE_EXTRA_CA_CERTS='${lab.caFile}' MP_SIDELOAD_OPS_USER='${ops.user}'\n` +
        `export MP_SIDELOAD_OPS_PASSWORD="$(cat '${join(lab.dir, "secrets/ops-password")}')"\n` +
        `export MP_SIDELOAD_REGISTRY_USER='${lab.registryUser}' MP_SIDELOAD_REGISTRY_PASSWORD="$(cat '${join(lab.dir, "secrets/registry-password")}')"\n` +
        `'${bin}' install '${lab.paks.sample}' --ops '${ops.url}/install' --ssh-config '${ops.sshConfig}' --known-hosts '${lab.knownHosts}'\n` +
        `echo "EXIT=$?"\nsleep 600\n`,
      { mode: 0o700 },
    );
    await tmux("new-session", "-d", "-s", "i", "-x", "200", "-y", "50", script);
    await waitForScreen(
      /Pull \S+ onto 2 proxies, then, if every collector group holds it, install\s+"sample\.pak" into VCF Operations 127\.0\.0\.1:\d+\?/,
    );
    await tmux("send-keys", "-t", "i", "y", "Enter");
    const board = await waitForScreen(/install sample\.pak\s+INSTALL_IN_PROGRESS\s+\d+\.\ds/, 60_000);
    expect(board).toMatch(/0\/1 done: 0 ok, 0 failed, 1 running/);
    const end = await waitForScreen(/EXIT=\d+/, 60_000);
    expect(end).toMatch(/EXIT=0/);
    expect(end).toMatch(
      /installed sample\.pak\s+\(pak id LabAdapter-100\)\s+CANDIDATE → INSTALL_IN_PROGRESS → COMPLETED/,
    );
    expect(end).not.toContain(ops.password);
    expect(end).not.toContain(lab.registryPassword);
  });
});
