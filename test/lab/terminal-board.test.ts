/**
 * Every subcommand at a terminal as the wizard is (issue 18): the built binary in a real
 * pseudo-terminal (tmux), against two lab proxies with unknown host keys. `pull`, `verify` and
 * `doctor` each list both keys with their fingerprints for one answer, up front; then, while a
 * proxy is still running, the live board shows it in words (`connecting`, not a result) above
 * a line of counts; at the end the board is gone and the report lists each proxy once.
 *
 * One proxy is slow on purpose: a relay in front of its sshd holds every connection after the
 * first (the host key scan) for a few seconds, so the board is on the screen long enough to be
 * read on a loaded machine.
 */
import net from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tmuxTerminal } from "../support/tmux.js";
import { bin, clearImages, loadLab, repoDigests, type Lab } from "./lab.js";

const { waitForScreen, keys, start, stop, shutdown } = tmuxTerminal("board", "b");
const holdMs = 8000;

let lab: Lab;
let scratch: string;
let relay: net.Server;
let relayPort: number;
const sockets = new Set<net.Socket>();
/** Connections to the relay since the command started: the first is its host key scan. */
let connections = 0;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-board-"));
  relay = net.createServer((client) => {
    const held = ++connections > 1;
    sockets.add(client);
    client.on("error", () => undefined);
    client.on("close", () => sockets.delete(client));
    client.pause();
    setTimeout(
      () => {
        if (client.destroyed) return;
        const upstream = net.connect(lab.firstSshPort + 1, "127.0.0.1");
        sockets.add(upstream);
        upstream.on("error", () => client.destroy());
        upstream.on("close", () => sockets.delete(upstream));
        client.pipe(upstream).pipe(client);
        client.resume();
      },
      held ? holdMs : 0,
    );
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  relayPort = (relay.address() as net.AddressInfo).port;
});

afterEach(async () => {
  await stop();
});

afterAll(async () => {
  await shutdown();
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => relay.close(resolve));
  await rm(scratch, { recursive: true, force: true });
});

/** Run `mp-sideload <args>` in the terminal against "fast" (proxy-1) and "slow" (proxy-2 behind the relay). */
async function startCommand(name: string, args: string): Promise<string> {
  connections = 0;
  const knownHosts = join(scratch, `known_hosts-${name}`);
  await writeFile(knownHosts, "");
  const inventory = join(scratch, `inventory-${name}.yaml`);
  await writeFile(
    inventory,
    `defaults:\n  user: root\n  identity: ${lab.identity}\nproxies:\n` +
      `  - name: fast\n    host: 127.0.0.1\n    port: ${lab.firstSshPort}\n` +
      `  - name: slow\n    host: 127.0.0.1\n    port: ${relayPort}\n`,
  );
  const script = join(scratch, `${name}.sh`);
  // The password comes from the lab's secrets file, never a command line; CI is unset inside.
  await writeFile(
    script,
    `#!/bin/sh\nunset CI\nexport MP_SIDELOAD_REGISTRY_USER='${lab.registryUser}'\n` +
      `MP_SIDELOAD_REGISTRY_PASSWORD="$(cat '${join(lab.dir, "secrets/registry-password")}')"\nexport MP_SIDELOAD_REGISTRY_PASSWORD\n` +
      `'${bin}' ${args} --inventory '${inventory}' --known-hosts '${knownHosts}'\necho "EXIT=$?"\nsleep 600\n`,
    { mode: 0o755 },
  );
  await start(script, 160, 50);
  return knownHosts;
}

/** The one host key question, for both proxies, with their fingerprints; answered yes. */
async function trustBothKeys(): Promise<void> {
  const keysShown = await waitForScreen(/Trust all 2 and remember them\?/, 60_000);
  expect(keysShown).toMatch(/These proxies are not in[\s\S]*fast\s+ssh-ed25519\s+SHA256:\S+/);
  expect(keysShown).toMatch(/slow\s+ssh-ed25519\s+SHA256:\S+/);
  await keys("y", "Enter");
}

/** The board while "slow" is held: its step in words, and the counts line. */
async function boardWhileRunning(): Promise<string> {
  const board = await waitForScreen(
    /slow {2}connecting {2}\d+\.\ds[\s\S]*\d\/2 done: \d ok, \d failed, \d running/,
    60_000,
  );
  return board;
}

/** The end: the board erased, each proxy's result once (the report). */
async function finalScreen(status: number): Promise<string> {
  const end = await waitForScreen(/EXIT=\d+/, 120_000);
  expect(end).toMatch(new RegExp(`EXIT=${status}`));
  expect(end).not.toMatch(/\d\/2 done: /);
  expect(end).not.toMatch(/ connecting /);
  // The board's own finished lines (`ok     slow  9.1s  pulled`) are gone: the report says it once.
  expect(end).not.toMatch(/^(ok|failed) +(fast|slow) {2}\d+\.\ds/m);
  expect(end.match(/Trust all 2/g)).toHaveLength(1);
  return end;
}

describe("subcommands at a terminal", () => {
  it("pull: both unknown keys at once, then go?, then the live board; the report once at the end", async () => {
    await clearImages(lab, 1);
    await clearImages(lab, 2);
    const knownHosts = await startCommand("pull", `pull '${lab.paks.sample}'`);
    await trustBothKeys();
    await waitForScreen(/Pull .* onto 2 proxies\?/, 60_000);
    await keys("y", "Enter");
    await boardWhileRunning();
    const end = await finalScreen(0);
    expect(end.match(/^ok\s+fast\s+pulled/gm)).toHaveLength(1);
    expect(end.match(/^ok\s+slow\s+pulled/gm)).toHaveLength(1);
    expect(end).not.toContain(lab.registryPassword);
    expect(await repoDigests(lab, 2)).toContain(lab.sampleReference);
    expect((await readFile(knownHosts, "utf8")).trim().split("\n")).toHaveLength(2);
  });

  it("verify: both unknown keys at once, then the live board, no go? (it changes nothing)", async () => {
    await startCommand("verify", `verify '${lab.paks.sample}'`);
    await trustBothKeys();
    const board = await boardWhileRunning();
    expect(board).not.toMatch(/Pull .* onto/);
    const end = await finalScreen(0);
    expect(end.match(/^ok\s+slow\s+present/gm)).toHaveLength(1);
  });

  it("doctor: both unknown keys at once, then the live board with each check in words", async () => {
    await startCommand("doctor", `doctor --pak '${lab.paks.sample}'`);
    await trustBothKeys();
    await boardWhileRunning();
    const end = await finalScreen(0);
    expect(end).toMatch(/^ok {4}slow +\d+ checks pass$/m);
    expect(end).toMatch(/^ok {4}fast +\d+ checks pass$/m);
  });
  it("pull: Ctrl-C at go? after trusting the keys says the keys were added, not that nothing changed", async () => {
    await clearImages(lab, 1);
    const knownHosts = await startCommand("pull-cancel", `pull '${lab.paks.sample}'`);
    await trustBothKeys();
    await waitForScreen(/Pull .* onto 2 proxies\?/, 60_000);
    await keys("C-c");
    const end = await waitForScreen(/EXIT=\d+/, 60_000);
    expect(end).toMatch(/EXIT=130/);
    expect(end).toMatch(
      /INTERRUPTED: interrupted at a prompt: nothing done on the proxies \(2 host keys were added to /,
    );
    expect(end).not.toMatch(/nothing was changed/);
    expect((await readFile(knownHosts, "utf8")).trim().split("\n")).toHaveLength(2);
    expect(await repoDigests(lab, 1)).toEqual([]);
  });
});
