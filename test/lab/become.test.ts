/**
 * `--become` on a lab proxy where root cannot log in (`scripts/lab.sh root-login I off`): the
 * admin users are outside the engines' group, so only sudo reaches the engine and certs.d.
 * mpadmin's sudo needs no password, mpsudo's does; the password is in no command line on either
 * side while the run goes, nor in any output or report, even with --debug.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli, type CliRun } from "./cli.js";
import { tmuxTerminal } from "../support/tmux.js";
import { runWhileSampling } from "./cmdlines.js";
import {
  bin,
  clearImages,
  labCtl,
  loadLab,
  proxyAddress,
  registryEnv,
  repoDigests,
  type Lab,
} from "./lab.js";

const proxy = 3;
const terminal = tmuxTerminal("become", "b");
let lab: Lab;
let scratch: string;
let sudoPassword: string;
let certsD: string;
let savedCa: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-become-"));
  await labCtl("root-login", String(proxy), "off");
  sudoPassword = (await readFile(join(lab.dir, "secrets/sudo-password"), "utf8")).trim();
  // certs.d is this machine's: the entry for this lab's registry (its own port) is only this
  // lab's, saved here and put back afterwards.
  certsD = `/etc/docker/certs.d/${lab.registry}`;
  savedCa = join(scratch, "saved-ca.crt");
  await copyFile(join(certsD, "ca.crt"), savedCa);
}, 60_000);

afterAll(async () => {
  await terminal.shutdown();
  await mkdir(certsD, { recursive: true });
  await copyFile(savedCa, join(certsD, "ca.crt"));
  await labCtl("root-login", String(proxy), "on");
  await rm(scratch, { recursive: true, force: true });
}, 60_000);

/**
 * The sudo users are this machine's, shared by every lab on it: another lab's `root-login off`
 * gives mpsudo that lab's password. Setting it again just before a run makes it this lab's.
 */
async function ownSudoPassword(): Promise<void> {
  await labCtl("root-login", String(proxy), "off");
}

function target(user: string): string[] {
  return [
    ...["--proxy", `${user}@${proxyAddress(lab, proxy)}`],
    ...["--identity", lab.identity, "--known-hosts", lab.knownHosts],
  ];
}

function run(
  command: "pull" | "verify",
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<CliRun> {
  return runCli([command, lab.paks.sample, ...args, "--json"], {
    ...options,
    env: { ...registryEnv(lab), ...options.env },
  });
}

function expectNoSecret(outputs: string[], secret: string): void {
  for (const output of outputs) expect(output).not.toContain(secret);
}

describe("--become", () => {
  it("as mpadmin (sudo NOPASSWD) pulls through sudo'd dial-stdio and verifies", async () => {
    await clearImages(lab, proxy);
    const pulled = await run("pull", [...target("mpadmin"), "--become"]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(parseReport(pulled).proxies[0]).toMatchObject({ status: "pulled" });
    expect((await repoDigests(lab, proxy)).some((d) => d.endsWith(lab.sampleDigest))).toBe(true);
    const verified = await run("verify", [...target("mpadmin"), "--become"]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(parseReport(verified).proxies[0]).toMatchObject({ status: "present" });
  });

  it("as mpsudo with MP_SIDELOAD_BECOME_PASSWORD: pulls and verifies; the password in no command line, output or report, even with --debug", async () => {
    await clearImages(lab, proxy);
    await ownSudoPassword();
    const report = join(scratch, "report.json");
    const {
      run: pulled,
      hits,
      samples,
    } = await runWhileSampling(
      ["pull", lab.paks.sample, ...target("mpsudo"), "--become", "--debug", "--report", report],
      { env: { ...registryEnv(lab), MP_SIDELOAD_BECOME_PASSWORD: sudoPassword } },
      [sudoPassword],
    );
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stderr).toContain("debug:");
    expect(samples).toBeGreaterThan(5);
    expect(hits).toEqual([]);
    expectNoSecret([pulled.stdout, pulled.stderr, await readFile(report, "utf8")], sudoPassword);
    expect(JSON.parse(await readFile(report, "utf8"))).toMatchObject({ proxies: [{ status: "pulled" }] });
    const verified = await run("verify", [...target("mpsudo"), "--become"], {
      env: { MP_SIDELOAD_BECOME_PASSWORD: sudoPassword },
    });
    expect(verified.code, verified.stderr).toBe(0);
    expect(parseReport(verified).proxies[0]).toMatchObject({ status: "present" });
  });

  it("as mpsudo with --become-password-stdin: pulls and verifies, the password in no command line", async () => {
    await clearImages(lab, proxy);
    await ownSudoPassword();
    const { run: pulled, hits } = await runWhileSampling(
      [
        "pull",
        lab.paks.sample,
        ...target("mpsudo"),
        "--become",
        "--become-password-stdin",
        "--json",
        "--debug",
      ],
      { env: registryEnv(lab), stdin: `${sudoPassword}\n` },
      [sudoPassword],
    );
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(parseReport(pulled).proxies[0]).toMatchObject({ status: "pulled" });
    expect(hits).toEqual([]);
    expectNoSecret([pulled.stdout, pulled.stderr], sudoPassword);
    const verified = await run("verify", [...target("mpsudo"), "--become", "--become-password-stdin"], {
      stdin: `${sudoPassword}\n`,
    });
    expect(verified.code, verified.stderr).toBe(0);
    expect(parseReport(verified).proxies[0]).toMatchObject({ status: "present" });
  });

  it("in a terminal, asks for the sudo password (masked, the live board paused) only when sudo wants one", async () => {
    await clearImages(lab, proxy);
    await ownSudoPassword();
    const script = join(scratch, "run.sh");
    // CI unset: the tool sees a terminal, as on a developer's machine.
    await writeFile(
      script,
      `#!/bin/sh\nunset CI\nexport MP_SIDELOAD_REGISTRY_USER='${lab.registryUser}'\n` +
        `export MP_SIDELOAD_REGISTRY_PASSWORD='${lab.registryPassword}'\n` +
        `'${bin}' pull '${lab.paks.sample}' ${target("mpsudo").join(" ")} --become --yes\n` +
        `echo "EXIT=$?"\nsleep 600\n`,
      { mode: 0o755 },
    );
    try {
      await terminal.start(script);
      await terminal.waitForScreen(/sudo password for mpsudo@proxies \(become\):/);
      // Typed from a paste buffer loaded from the secrets file: on no command line.
      await terminal.tmux("load-buffer", "-b", "pw", join(lab.dir, "secrets/sudo-password"));
      await terminal.tmux("paste-buffer", "-d", "-b", "pw", "-t", "b");
      await terminal.keys("Enter");
      const end = await terminal.waitForScreen(/EXIT=\d+/, 60_000);
      expect(end).toMatch(/EXIT=0/);
      expect(end).toMatch(/ok\s+\S+\s+pulled/);
      expect(end).toMatch(/sudo password for mpsudo@proxies \(become\): \*{8,}/);
      expect(end).not.toContain(sudoPassword);
    } finally {
      await terminal.stop();
    }
  });

  it("a wrong sudo password is BECOME_FAILED on that proxy only, exit 1, and never shown", async () => {
    await clearImages(lab, proxy);
    await ownSudoPassword();
    const wrong = "Wr0ng-sudo-pa55word-that-must-not-leak";
    const inventory = join(scratch, "become.yaml");
    const [host, port] = proxyAddress(lab, proxy).split(":");
    await writeFile(
      inventory,
      [
        "proxies:",
        `  - {name: admin, host: "${host}", port: ${port}, user: mpadmin}`,
        `  - {name: sudoer, host: "${host}", port: ${port}, user: mpsudo}`,
        "",
      ].join("\n"),
    );
    const { run: pulled, hits } = await runWhileSampling(
      [
        "pull",
        lab.paks.sample,
        ...["--inventory", inventory, "--identity", lab.identity, "--known-hosts", lab.knownHosts],
        ...["--become", "--json", "--debug"],
      ],
      { env: { ...registryEnv(lab), MP_SIDELOAD_BECOME_PASSWORD: wrong } },
      [wrong],
    );
    expect(pulled.code).toBe(1);
    const [admin, sudoer] = parseReport(pulled).proxies;
    // mpadmin's sudo needs no password: the wrong one is never sent there.
    expect(admin).toMatchObject({ status: "pulled" });
    expect(sudoer).toMatchObject({
      status: "failed",
      failedStep: "engine",
      error: { code: "BECOME_FAILED" },
    });
    expect(sudoer?.error?.message).toMatch(/incorrect password|refused the sudo password/);
    expect(sudoer?.error?.hint).toContain("--become-password-stdin");
    expect(hits).toEqual([]);
    expectNoSecret([pulled.stdout, pulled.stderr], wrong);
  });

  it("doctor reports the become method in its engine check, and the CA read through sudo", async () => {
    await ownSudoPassword();
    const doctor = await runCli(
      ["doctor", "--pak", lab.paks.sample, ...target("mpsudo"), "--become", "--json"],
      {
        env: { MP_SIDELOAD_BECOME_PASSWORD: sudoPassword },
      },
    );
    const checks = (
      JSON.parse(doctor.stdout) as {
        proxies: { checks: { check: string; verdict: string; detail: string }[] }[];
      }
    ).proxies[0]?.checks;
    const check = (name: string) => checks?.find((c) => c.check === name);
    expect(check("engine")).toMatchObject({ verdict: "pass" });
    expect(check("engine")?.detail).toMatch(
      /over dial-stdio .*as root through sudo \(with the sudo password on stdin\)/,
    );
    expect(check("transport")?.detail).toContain("through sudo");
    expect(check(`ca ${lab.registry}`)?.detail).toContain("present");
    expect(doctor.stdout).not.toContain(sudoPassword);
  });

  it("without --become the engine's refusal says to pass --become", async () => {
    const refused = await run("verify", target("mpadmin"));
    expect(refused.code).toBe(1);
    const row = parseReport(refused).proxies[0];
    expect(row?.error?.code).toBe("ENGINE_PERMISSION");
    expect(row?.error?.hint).toContain("--become");
  });

  it("--registry-ca with --become installs the CA through sudo (root's 0644 file), then leaves it unchanged", async () => {
    await rm(certsD, { recursive: true, force: true });
    await clearImages(lab, proxy);
    await ownSudoPassword();
    const env = { MP_SIDELOAD_BECOME_PASSWORD: sudoPassword };
    const installed = await run("pull", [...target("mpsudo"), "--become", "--registry-ca", lab.caFile], {
      env,
    });
    expect(installed.code, installed.stderr).toBe(0);
    expect(parseReport(installed).proxies[0]).toMatchObject({ status: "pulled", registryCa: "installed" });
    const file = join(certsD, "ca.crt");
    expect(await readFile(file, "utf8")).toBe(await readFile(lab.caFile, "utf8"));
    const written = await stat(file);
    expect([written.mode & 0o777, written.uid]).toEqual([0o644, 0]);
    await clearImages(lab, proxy); // so that the next run logs in (and looks at the CA) again
    const again = await run("pull", [...target("mpsudo"), "--become", "--registry-ca", lab.caFile], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(parseReport(again).proxies[0]).toMatchObject({ status: "pulled", registryCa: "unchanged" });
    expect((await stat(file)).mtimeMs).toBe(written.mtimeMs);
  });
});
