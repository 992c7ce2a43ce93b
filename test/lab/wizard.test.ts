/**
 * The wizard end to end: the real binary with no arguments in a real terminal (tmux), against
 * the lab. It picks the pak offered in the folder, the inventory, two of the three proxies,
 * types the registry user and password, confirms; exactly those two proxies then hold the
 * image, and the command it prints, run as it is, finds them `present` and gives the same
 * report (from VCF Operations too, with the collector groups' coverage in both).
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tmuxTerminal } from "../support/tmux.js";
import { bin, clearImages, loadLab, root, repoDigests, type Lab, registryEnv } from "./lab.js";
import { loadOpsLab } from "./ops-lab.js";

const run = promisify(execFile);
const { tmux, screen, waitForScreen, keys, stop, shutdown } = tmuxTerminal("wizard", "w");

let lab: Lab;
let scratch: string;
let folder: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-wizard-"));
});

beforeEach(async () => {
  for (let p = 1; p <= lab.proxies; p++) await clearImages(lab, p);
  // A developer's folder: the freshly built pak, an inventory, and a YAML file that is not one.
  folder = await mkdtemp(join(scratch, "project-"));
  await copyFile(lab.paks.sample, join(folder, "sample.pak"));
  await copyFile(lab.inventory, join(folder, "inventory.yaml"));
  await writeFile(join(folder, "docker-compose.yml"), "services: {}\n");
  await mkdir(join(folder, "home", ".ssh"), { recursive: true });
  await copyFile(lab.knownHosts, join(folder, "home", ".ssh", "known_hosts"));
});

afterEach(async () => {
  await stop();
});

afterAll(async () => {
  await shutdown();
  await rm(scratch, { recursive: true, force: true });
});

/** Start `mp-sideload` with no arguments in the folder, as a developer would (no CI, a terminal). */
async function startWizard(extraEnv = ""): Promise<void> {
  const script = join(folder, "run.sh");
  await writeFile(
    script,
    `#!/bin/sh\nunset CI\ncd '${folder}'\nexport HOME='${folder}/home' XDG_STATE_HOME='${folder}/state' ${extraEnv}\n'${bin}'\necho "EXIT=$?"\nsleep 600\n`,
    { mode: 0o755 },
  );
  await tmux("new-session", "-d", "-s", "w", "-x", "250", "-y", "60", script);
}

/** The relay question (no, its first default): these proxies reach the registry themselves. */
async function noRelay(): Promise<void> {
  await waitForScreen(
    /carry the image through this machine's SSH connection \(--relay auto\)\? \(y\/N\)/,
    60_000,
  );
  await keys("Enter");
}

/** The closing command the wizard printed at its end. */
function closingCommand(end: string): string {
  const command = /^\s*(mp-sideload pull .*)$/m.exec(end)?.[1];
  expect(command).toBeDefined();
  return command ?? "";
}

/** Run the closing command as printed, as a pipeline would (no terminal), in the folder. */
async function runClosing(command: string, env: Record<string, string>, extra = "") {
  return run("bash", ["-c", `${command}${extra}`], {
    cwd: folder,
    env: {
      PATH: `${dirname(bin)}:${process.env.PATH ?? ""}`,
      HOME: join(folder, "home"),
      CI: "true",
      ...env,
    },
  });
}

/**
 * The human report in `text` (the wizard's screen, or the command's stdout): a line per proxy
 * (mark, name; `pulled` and `present` both mean it holds the image), the summary, and the
 * coverage verdict per collector group when there is one.
 */
function reportOf(text: string): string[] {
  const lines = text.split("\n").map((l) => l.trimEnd());
  const start = lines.findLastIndex((l) => /^pull \S+$/.test(l));
  const end = lines.findIndex((l, i) => i > start && /^\d+ ok, \d+ failed, \d+ in all$/.test(l));
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  const rows = lines.slice(start + 1, end).map((l) => l.split(/\s+/).slice(0, 2).join(" "));
  const coverage: string[] = [];
  for (let i = end + 2; lines[end + 1] === "" && /hold every image/.test(lines[i] ?? ""); i++)
    coverage.push(lines[i] ?? "");
  return [lines[start] ?? "", ...rows, lines[end] ?? "", ...coverage];
}

describe("the wizard", () => {
  it("walks through the job, pulls onto exactly the chosen proxies, and prints a command that repeats it", async () => {
    await startWizard();
    const first = await waitForScreen(/Which management pack\?/);
    expect(first).toMatch(/❯ sample\.pak {2}LabAdapter 1\.0\.0/);
    await keys("Enter");

    const found = await waitForScreen(/Which cloud proxies\?/);
    expect(found).toContain(`reference   ${lab.sampleReference}`);
    // The inventory is offered; the compose file is not.
    expect(found).toMatch(/inventory\.yaml {2}3 proxies/);
    expect(found).not.toContain("docker-compose.yml");
    await keys("Enter");

    await waitForScreen(/Which proxies\?[\s\S]*◉ proxy-3/);
    await keys("Down");
    await keys("Space");
    await waitForScreen(/◯ proxy-2/);
    await keys("Enter");
    await noRelay();

    await waitForScreen(/User for registry/);
    await tmux("send-keys", "-t", "w", "-l", lab.registryUser);
    await keys("Enter");
    await waitForScreen(/Password of mpuser at/);
    // An empty password is not an answer.
    await keys("Enter");
    await waitForScreen(/Password of mpuser at[\s\S]*a password is required/);
    // Typed from a paste buffer (the password is on no command line), without its newline.
    const pw = join(folder, "pw");
    await writeFile(pw, lab.registryPassword, { mode: 0o600 });
    await tmux("load-buffer", "-b", "pw", pw);
    await tmux("paste-buffer", "-d", "-b", "pw", "-t", "w");
    await keys("Enter");

    const plan = await waitForScreen(/Pull onto 2 proxies now\?/);
    expect(plan).toMatch(/registry .*: credentials from prompt; ok/);
    expect(plan).toContain("The plan (nothing has been done yet):");
    expect(plan).not.toContain(lab.registryPassword);
    await keys("Enter");

    const end = await waitForScreen(/EXIT=\d+/, 90_000);
    expect(end).toMatch(/EXIT=0/);
    expect(end).toMatch(/2 ok, 0 failed, 2 in all/);
    // The results once: the report's lines, not also the board's (`ok     proxy-1  1.2s  pulled`).
    expect(end.match(/^ok +proxy-1 /gm)).toHaveLength(1);
    expect(end).not.toMatch(/^ok +proxy-\d {2}\d+\.\ds/m);
    expect(end).not.toContain(lab.registryPassword);
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);
    expect(await repoDigests(lab, 2)).toEqual([]);
    expect(await repoDigests(lab, 3)).toContain(lab.sampleReference);

    // The equivalent command, run as printed, with the password from the environment.
    const command = /^\s*(mp-sideload pull .*)$/m.exec(end)?.[1];
    expect(command).toMatch(/--inventory \S+inventory\.yaml --limit proxy-1 --limit proxy-3 --yes$/);
    expect(end).toContain(`export MP_SIDELOAD_REGISTRY_USER=${lab.registryUser}`);
    const again = await runClosing(closingCommand(end), registryEnv(lab), " --json");
    const report = JSON.parse(again.stdout) as { proxies: { name: string; status: string }[] };
    expect(report.proxies.map((p) => [p.name, p.status])).toEqual([
      ["proxy-1", "present"],
      ["proxy-3", "present"],
    ]);
    // The same report as the wizard's (the images now present): the same pipeline ran.
    const human = await runClosing(closingCommand(end), registryEnv(lab));
    expect(reportOf(human.stdout)).toEqual(reportOf(end));
  });

  it("Ctrl-C at the proxy checkbox exits 130 and touches no proxy", async () => {
    await startWizard();
    await waitForScreen(/Which management pack\?/);
    await keys("Enter");
    await waitForScreen(/Which cloud proxies\?/);
    await keys("Enter");
    await waitForScreen(/Which proxies\?/);
    await keys("C-c");
    const end = await waitForScreen(/EXIT=\d+/);
    expect(end).toMatch(/EXIT=130/);
    expect(end).toMatch(/INTERRUPTED: interrupted at a prompt: nothing was changed/);
    for (let p = 1; p <= lab.proxies; p++) expect(await repoDigests(lab, p)).toEqual([]);
  });

  it("Esc at the registry password leaves cleanly: no failed registry check on the screen", async () => {
    await startWizard();
    await waitForScreen(/Which management pack\?/);
    await keys("Enter");
    await waitForScreen(/Which cloud proxies\?/);
    await keys("Enter");
    await waitForScreen(/Which proxies\?/);
    await keys("Enter");
    await noRelay();
    await waitForScreen(/User for registry/);
    await tmux("send-keys", "-t", "w", "-l", lab.registryUser);
    await keys("Enter");
    await waitForScreen(/Password of mpuser at/);
    await keys("Escape");
    const end = await waitForScreen(/EXIT=\d+/);
    expect(end).toMatch(/EXIT=130/);
    expect(end).not.toMatch(/✖/);
    for (let p = 1; p <= lab.proxies; p++) expect(await repoDigests(lab, p)).toEqual([]);
  });

  it("from VCF Operations: asks its URL, user and password (masked), then its CA when untrusted, pulls onto the proxies it names", async () => {
    const ops = loadOpsLab(lab);
    await copyFile(ops.sshConfig, join(folder, "home", ".ssh", "config"));
    // No NODE_EXTRA_CA_CERTS: this machine does not trust the lab CA that signed Ops' certificate.
    await startWizard();
    await waitForScreen(/Which management pack\?/);
    await keys("Enter");
    const sources = await waitForScreen(/Which cloud proxies\?/);
    expect(sources).toMatch(/from VCF Operations/);
    await keys("Down");
    await keys("Down");
    await waitForScreen(/❯ from VCF Operations/);
    await keys("Enter");
    await waitForScreen(/VCF Operations URL/);
    await tmux("send-keys", "-t", "w", "-l", ops.url);
    await keys("Enter");
    await waitForScreen(/User for VCF Operations/);
    await tmux("send-keys", "-t", "w", "-l", ops.user);
    await keys("Enter");
    await waitForScreen(/Password of \S+ at VCF Operations/);
    const opsPw = join(folder, "ops-pw");
    await writeFile(opsPw, ops.password, { mode: 0o600 });
    await tmux("load-buffer", "-b", "opw", opsPw);
    await tmux("paste-buffer", "-d", "-b", "opw", "-t", "w");
    await keys("Enter");

    // Which proxies is settled first (Ops' CA here), then the registry's credentials.
    const untrusted = await waitForScreen(/CA certificate of VCF Operations/, 60_000);
    expect(untrusted).toMatch(/its TLS certificate is not trusted here/);
    await tmux("send-keys", "-t", "w", "-l", lab.caFile);
    await keys("Enter");
    // Proxies from VCF Operations: install there too? No (the default): the run is a pull.
    await waitForScreen(/Install the pack now\? \(y\/N\)/, 60_000);
    await keys("Enter");
    await noRelay();

    await waitForScreen(/User for registry/, 60_000);
    await tmux("send-keys", "-t", "w", "-l", lab.registryUser);
    await keys("Enter");
    await waitForScreen(/Password of mpuser at/);
    const pw = join(folder, "pw");
    await writeFile(pw, lab.registryPassword, { mode: 0o600 });
    await tmux("load-buffer", "-b", "pw", pw);
    await tmux("paste-buffer", "-d", "-b", "pw", "-t", "w");
    await keys("Enter");

    const plan = await waitForScreen(/Pull onto 2 proxies now\?/, 60_000);
    expect(plan).toMatch(/cp-east-1\S* +root@127\.0\.0\.1:\d+ /);
    expect(plan).toMatch(/why: east-group holds LabAdapter instance/);
    await keys("Enter");
    const end = await waitForScreen(/EXIT=\d+/, 90_000);
    expect(end).toMatch(/EXIT=0/);
    expect(end).not.toContain(ops.password);
    expect(end).not.toContain(lab.registryPassword);
    expect(end).toMatch(/mp-sideload pull \S+ --ops \S+ --ops-user \S+ --ops-ca \S+ --yes/);
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);
    expect(await repoDigests(lab, 2)).toContain(lab.sampleReference);
    expect(await repoDigests(lab, 3)).toEqual([]);
    // The wizard's report has the coverage verdict, and equals its closing command's.
    expect(end).toMatch(/^east-group: 2 of 2 members hold every image — ready$/m);
    const again = await runClosing(closingCommand(end), {
      ...registryEnv(lab),
      MP_SIDELOAD_OPS_PASSWORD: ops.password,
    });
    expect(reportOf(again.stdout)).toEqual(reportOf(end));
    expect(reportOf(end)).toContain("east-group: 2 of 2 members hold every image — ready");
  });

  it("from VCF Operations, a first install: asks which collector groups, pulls onto their members, installs the pack when asked to", async () => {
    const ops = loadOpsLab(lab);
    // The simulator's CaSA of the default deployment, as if nothing had been installed there.
    const casaReset = () =>
      run("curl", [
        "-sf",
        "--cacert",
        lab.caFile,
        "-X",
        "POST",
        "-d",
        '{"reset":true}',
        `${ops.url}/_sim/casa/vcf9`,
      ]);
    await casaReset();
    await copyFile(ops.sshConfig, join(folder, "home", ".ssh", "config"));
    // A kind the simulator has no instance of: the sample image under a new adapter kind.
    await rm(join(folder, "sample.pak"));
    await run(
      "node",
      [
        "--import",
        "tsx",
        "scripts/make-pak.ts",
        "--out",
        join(folder, "new.pak"),
        "--kind",
        "NewAdapter",
        "--registry",
        lab.registry,
        "--repository",
        "/mp/test-adapter",
        "--digest",
        lab.sampleDigest,
      ],
      { cwd: root },
    );
    await startWizard(
      `NODE_EXTRA_CA_CERTS='${lab.caFile}' MP_SIDELOAD_OPS_USER='${ops.user}' MP_SIDELOAD_REGISTRY_USER='${lab.registryUser}'`,
    );
    await waitForScreen(/Which management pack\?/);
    await keys("Enter");
    await waitForScreen(/Which cloud proxies\?/);
    await keys("Down");
    await keys("Down");
    await waitForScreen(/❯ from VCF Operations/);
    await keys("Enter");
    await waitForScreen(/VCF Operations URL/);
    await tmux("send-keys", "-t", "w", "-l", ops.url);
    await keys("Enter");
    await waitForScreen(/Password of \S+ at VCF Operations/);
    const opsPw = join(folder, "ops-pw");
    await writeFile(opsPw, ops.password, { mode: 0o600 });
    await tmux("load-buffer", "-b", "opw", opsPw);
    await tmux("paste-buffer", "-d", "-b", "opw", "-t", "w");
    await keys("Enter");

    const groups = await waitForScreen(/Which collector groups will run its instances\?/, 60_000);
    expect(groups).toMatch(/no adapter instance of "?NewAdapter"? yet/);
    expect(groups).toMatch(/east-group {2}2 members[\s\S]*west-group {2}1 member/);
    // Down to west-group (east-group is first), check it.
    await keys("Down");
    await waitForScreen(/❯ *◯ west-group/);
    await keys("Space");
    await keys("Enter");

    await waitForScreen(/Install the pack now\?/, 60_000);
    await keys("y");
    await keys("Enter");
    await noRelay();

    await waitForScreen(/Password of mpuser at/, 60_000);
    const pw = join(folder, "pw");
    await writeFile(pw, lab.registryPassword, { mode: 0o600 });
    await tmux("load-buffer", "-b", "pw", pw);
    await tmux("paste-buffer", "-d", "-b", "pw", "-t", "w");
    await keys("Enter");
    await waitForScreen(/Pull onto 1 proxy, then install the pack into VCF Operations, now\?/, 60_000);
    await keys("Enter");
    const end = await waitForScreen(/EXIT=\d+/, 90_000);
    await casaReset();
    expect(end).toMatch(/EXIT=0/);
    expect(end).toMatch(/installed new\.pak/);
    expect(end).toMatch(
      /mp-sideload install \S*new\.pak --ops \S+ --ops-user \S+ --collector-group west-group --yes/,
    );
    expect(end).not.toContain(ops.password);
    expect(await repoDigests(lab, 3)).toContain(lab.sampleReference);
    expect(await repoDigests(lab, 1)).toEqual([]);
  });

  it("several paks in the folder: a multi-select, and every chosen pak is read (its image listed)", async () => {
    await copyFile(lab.paks.second, join(folder, "second.pak"));
    await startWizard();
    const paks = await waitForScreen(/Which management packs\?/);
    expect(paks).toMatch(/sample\.pak/);
    expect(paks).toMatch(/second\.pak/);
    // Check both (the newest is checked already: toggle the unchecked one).
    const unchecked = /◯ (sample|second)\.pak/.exec(paks)?.[1];
    expect(unchecked).toBeDefined();
    if (/❯ ◯/.exec(paks) === null) await keys("Down");
    await keys("Space");
    await waitForScreen(/◉ sample\.pak[\s\S]*◉ second\.pak|◉ second\.pak[\s\S]*◉ sample\.pak/);
    await keys("Enter");
    const found = await waitForScreen(/Which cloud proxies\?/);
    expect(found).toContain(`reference   ${lab.sampleReference}`);
    expect(found).toContain(`reference   ${lab.secondReference}`);
    await keys("C-c");
    await waitForScreen(/EXIT=130/);
  });

  it("with NO_COLOR, the terminal shows no colour", async () => {
    await startWizard("NO_COLOR=1");
    await waitForScreen(/Which management pack\?/);
    await keys("Enter");
    await waitForScreen(/Which cloud proxies\?/);
    // No SGR colour sequences (30-37, 90-97 foreground; 40-47 background).
    // eslint-disable-next-line no-control-regex
    expect(await screen(true)).not.toMatch(/\u001b\[(?:\d+;)*(?:3[0-7]|9[0-7]|4[0-7])(?:;\d+)*m/);
    await keys("C-c");
    await waitForScreen(/EXIT=130/);
  });
});
