/**
 * A developer at a terminal: the built binary in a real pseudo-terminal (tmux), answering
 * inquirer's prompts by keystrokes: the unknown host keys (once, up front, then recorded in
 * known_hosts), the "go?" question and the registry password (masked).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tmuxTerminal } from "../support/tmux.js";
import { bin, clearImages, loadLab, repoDigests, type Lab } from "./lab.js";

const run = promisify(execFile);
const { tmux, waitForScreen, stop, shutdown } = tmuxTerminal("tty", "t");

let lab: Lab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-tty-"));
});

// A failed assertion must not leave its session behind for the next test.
afterEach(async () => {
  await stop();
});

afterAll(async () => {
  await shutdown();
  await rm(scratch, { recursive: true, force: true });
});

describe("in a terminal", () => {
  it("asks about the unknown host key, for confirmation and for the password (masked), then pulls", async () => {
    await clearImages(lab, 1);
    const knownHosts = join(scratch, "known_hosts");
    await writeFile(knownHosts, "");
    const script = join(scratch, "run.sh");
    // CI is unset inside: the tool must see a terminal and no CI, as on a developer's machine.
    await writeFile(
      script,
      `#!/bin/sh\nunset CI\nexport MP_SIDELOAD_REGISTRY_USER='${lab.registryUser}'\n` +
        `'${bin}' pull '${lab.paks.sample}' --inventory '${lab.inventory}' --limit proxy-1 --known-hosts '${knownHosts}'\n` +
        `echo "EXIT=$?"\nsleep 600\n`,
      { mode: 0o755 },
    );
    await tmux("new-session", "-d", "-s", "t", "-x", "200", "-y", "50", script);

    // Every unknown host key first, with its fingerprint, for one answer; then "go?"; then the
    // password, asked only once the proxy turned out to need a pull.
    const keys = await waitForScreen(/Trust all 1 and remember them\?/);
    expect(keys).toMatch(/These proxies are not in[\s\S]*proxy-1\s+ssh-ed25519\s+SHA256:\S+/);
    await tmux("send-keys", "-t", "t", "y", "Enter");

    await waitForScreen(/Pull .* onto 1 proxy\?/);
    await tmux("send-keys", "-t", "t", "y", "Enter");

    await waitForScreen(/Password of mpuser at/);
    // Typed from a paste buffer loaded from the secrets file: the password is on no command line.
    await tmux("load-buffer", "-b", "pw", join(lab.dir, "secrets/registry-password"));
    await tmux("paste-buffer", "-d", "-b", "pw", "-t", "t");
    await tmux("send-keys", "-t", "t", "Enter");

    const end = await waitForScreen(/EXIT=\d+/, 60_000);
    expect(end).toMatch(/EXIT=0/);
    expect(end).toMatch(/ok\s+proxy-1\s+pulled/);
    expect(end).not.toContain(lab.registryPassword);
    expect(end).toMatch(/Password of mpuser at .*\*{8,}/); // masked as it was typed
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);
    expect(await readFile(knownHosts, "utf8")).toMatch(
      new RegExp(`^\\[127\\.0\\.0\\.1\\]:${lab.firstSshPort} ssh-ed25519 `),
    );
  });

  it("asks for the passphrase of an encrypted --identity, and skips that key without a terminal", async () => {
    const key = join(scratch, "id_encrypted");
    const passphraseFile = join(scratch, "passphrase");
    await writeFile(passphraseFile, "correct horse battery staple", { mode: 0o600 });
    await writeFile(key, await readFile(lab.identity), { mode: 0o600 });
    await run("ssh-keygen", ["-q", "-p", "-P", "", "-N", "correct horse battery staple", "-f", key]);
    // Two proxies, one key: the passphrase is asked once for the run, not once per proxy.
    const args = `verify '${lab.paks.sample}' --proxy 'root@127.0.0.1:${lab.firstSshPort}' --proxy 'root@127.0.0.1:${lab.firstSshPort + 1}' --identity '${key}' --known-hosts '${lab.knownHosts}'`;

    const script = join(scratch, "run3.sh");
    await writeFile(
      script,
      `#!/bin/sh\nunset CI\nHOME='${scratch}' '${bin}' ${args}\necho "EXIT=$?"\nsleep 600\n`,
      { mode: 0o755 },
    );
    await tmux("new-session", "-d", "-s", "t", "-x", "200", "-y", "50", script);
    await waitForScreen(new RegExp(`Passphrase for ${key.replace(/[/.]/g, "\\$&")}`));
    await tmux("load-buffer", "-b", "pp", passphraseFile);
    await tmux("paste-buffer", "-d", "-b", "pp", "-t", "t");
    await tmux("send-keys", "-t", "t", "Enter");
    const end = await waitForScreen(/EXIT=\d+/);
    expect(end).toMatch(
      new RegExp(`(ok|MISSING)\\s+127\\.0\\.0\\.1:${lab.firstSshPort}\\s+(present|missing)`),
    );
    expect(end).toMatch(
      new RegExp(`(ok|MISSING)\\s+127\\.0\\.0\\.1:${lab.firstSshPort + 1}\\s+(present|missing)`),
    );
    expect(end.match(/Passphrase for/g)).toHaveLength(1);
    expect(end).not.toContain("correct horse");

    // No terminal: the key cannot be unlocked, so it is skipped and nothing else works.
    const { stdout } = await run("sh", ["-c", `CI=true HOME='${scratch}' '${bin}' ${args} --json; true`]);
    expect(stdout).toContain('"code": "SSH_AUTH_FAILED"');
  });

  it("answering no to an unknown host key sends nothing and fails HOSTKEY_UNKNOWN", async () => {
    const knownHosts = join(scratch, "known_hosts_2");
    await writeFile(knownHosts, "");
    const script = join(scratch, "run2.sh");
    await writeFile(
      script,
      `#!/bin/sh\nunset CI\n'${bin}' verify '${lab.paks.sample}' --inventory '${lab.inventory}' --limit proxy-2 --known-hosts '${knownHosts}'\necho "EXIT=$?"\nsleep 600\n`,
      { mode: 0o755 },
    );
    await tmux("new-session", "-d", "-s", "t", "-x", "200", "-y", "50", script);
    await waitForScreen(/These proxies are not in[\s\S]*proxy-2[\s\S]*Trust all 1 and remember them\?/);
    await tmux("send-keys", "-t", "t", "n", "Enter");
    const end = await waitForScreen(/EXIT=\d+/);
    expect(end).toMatch(/EXIT=1/);
    expect(end).toMatch(/HOSTKEY_UNKNOWN/);
    expect(await readFile(knownHosts, "utf8")).toBe("");
  });
});
