/**
 * The wizard's relay question end to end (issue 24): the real binary with no arguments in a real
 * terminal (tmux), onto the lab's isolated proxy (`scripts/lab.sh isolated up 1`: sshd and dockerd
 * in a network namespace with no route to the registry). Answered yes, the proxy's engine holds
 * exactly the pak's reference, its /etc/hosts is as it was, and the closing command carries
 * `--relay auto` and, run as printed, finds the image present.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tmuxTerminal } from "../support/tmux.js";
import { bin, labCtl, loadLab, registryEnv, type Lab } from "./lab.js";

const run = promisify(execFile);
const { tmux, waitForScreen, keys, stop, shutdown } = tmuxTerminal("wizard-relay", "wr");

let lab: Lab;
let scratch: string;
let folder: string;
const isoDir = join("isolated", "iso-1");
const engine = () => new Docker({ socketPath: join(lab.run, "i1", "docker.sock") });

async function repoDigestsOfIsolated(): Promise<string[]> {
  return (await engine().listImages()).flatMap((image) => image.RepoDigests ?? []);
}

beforeAll(async () => {
  lab = loadLab();
  await labCtl("isolated", "up", "1");
  for (const image of await engine().listImages()) await engine().getImage(image.Id).remove({ force: true });
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-wizard-relay-"));
  // A developer's folder: the pak and the inventory of the proxy that cannot reach the registry.
  folder = join(scratch, "project");
  await mkdir(join(folder, "home", ".ssh"), { recursive: true });
  await copyFile(lab.paks.sample, join(folder, "sample.pak"));
  await copyFile(join(lab.dir, "client", "inventory-isolated.yaml"), join(folder, "inventory-isolated.yaml"));
  await copyFile(
    join(lab.dir, "client", "known_hosts-isolated"),
    join(folder, "home", ".ssh", "known_hosts"),
  );
}, 180_000);

afterEach(async () => {
  await stop();
});

afterAll(async () => {
  await shutdown();
  await labCtl("isolated", "down");
  await rm(scratch, { recursive: true, force: true });
});

async function startWizard(): Promise<void> {
  const script = join(folder, "run.sh");
  await writeFile(
    script,
    `#!/bin/sh\nunset CI\ncd '${folder}'\nexport HOME='${folder}/home' XDG_STATE_HOME='${folder}/state'\n'${bin}'\necho "EXIT=$?"\nsleep 600\n`,
    { mode: 0o755 },
  );
  await tmux("new-session", "-d", "-s", "wr", "-x", "250", "-y", "60", script);
}

describe("the wizard onto a proxy that cannot reach the registry", () => {
  it("asks whether to carry the image through SSH; yes lands the exact reference and the closing command says --relay auto", async () => {
    const hostsBefore = await readFile(join(lab.dir, isoDir, "hosts"), "utf8");
    await startWizard();
    await waitForScreen(/Which management pack\?/);
    await keys("Enter");
    await waitForScreen(/Which cloud proxies\?[\s\S]*inventory-isolated\.yaml {2}1 proxy/);
    await keys("Enter");
    await waitForScreen(/Which proxies\?[\s\S]*◉ iso-1/);
    await keys("Enter");
    // Asked before any proxy is contacted; no is the first default.
    await waitForScreen(
      /If a proxy cannot reach the registry, carry the image through this machine's SSH connection \(--relay auto\)\? \(y\/N\)/,
    );
    await keys("y");
    await keys("Enter");

    await waitForScreen(/User for registry/, 60_000);
    await tmux("send-keys", "-t", "wr", "-l", lab.registryUser);
    await keys("Enter");
    await waitForScreen(/Password of mpuser at/);
    const pw = join(folder, "pw");
    await writeFile(pw, lab.registryPassword, { mode: 0o600 });
    await tmux("load-buffer", "-b", "pw", pw);
    await tmux("paste-buffer", "-d", "-b", "pw", "-t", "wr");
    await keys("Enter");
    await waitForScreen(/Pull onto 1 proxy now\?/, 60_000);
    await keys("Enter");

    const end = await waitForScreen(/EXIT=\d+/, 120_000);
    expect(end).toMatch(/EXIT=0/);
    expect(end).toMatch(/1 ok, 0 failed, 1 in all/);
    expect(end).not.toContain(lab.registryPassword);
    // The engine pulled by the exact name: RepoDigests hold exactly the pak's reference.
    expect(await repoDigestsOfIsolated()).toEqual([lab.sampleReference]);
    expect(await readFile(join(lab.dir, isoDir, "hosts"), "utf8")).toBe(hostsBefore);

    const command = /^\s*(mp-sideload pull .*)$/m.exec(end)?.[1] ?? "";
    expect(command).toMatch(/ --inventory \S+inventory-isolated\.yaml --relay auto --yes$/);
    // The answer is remembered: next time's default.
    const state = JSON.parse(await readFile(join(folder, "state", "mp-sideload", "wizard.json"), "utf8")) as {
      relay?: boolean;
    };
    expect(state).toMatchObject({ relay: true });

    // Run as printed, as a pipeline would: the image is present, the same one proxy.
    const again = await run("bash", ["-c", `${command} --json`], {
      cwd: folder,
      env: {
        PATH: `${dirname(bin)}:${process.env.PATH ?? ""}`,
        HOME: join(folder, "home"),
        CI: "true",
        ...registryEnv(lab),
      },
    });
    const report = JSON.parse(again.stdout) as { proxies: { name: string; status: string }[] };
    expect(report.proxies.map((p) => [p.name, p.status])).toEqual([["iso-1", "present"]]);
  }, 240_000);
});
