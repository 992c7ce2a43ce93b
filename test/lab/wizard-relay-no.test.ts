/**
 * The wizard's relay question answered no (issue 24), end to end: the real binary with no
 * arguments in a real terminal (tmux), onto the lab's isolated proxy (`scripts/lab.sh isolated up
 * 1`: sshd and dockerd in a network namespace with no route to the registry). Nothing is relayed
 * (its /etc/hosts never changes, sshd sees no remote forward, the registry serves no blob), the
 * proxy's row fails REGISTRY_UNREACHABLE with a hint naming --relay, the closing command carries
 * no --relay (and a line after it says what would carry the image), and the no is remembered:
 * the next run asks with no as its default.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tmuxTerminal } from "../support/tmux.js";
import { bin, labCtl, loadLab, type Lab } from "./lab.js";
import { blobGets, isolatedProxies } from "./isolated.js";

const { tmux, waitForScreen, keys, stop, shutdown } = tmuxTerminal("wizard-relay-no", "wn");

let lab: Lab;
let iso: ReturnType<typeof isolatedProxies>;
let scratch: string;
let folder: string;
const stateFile = () => join(folder, "state", "mp-sideload", "wizard.json");
const sshdLogOfIsolated = () => readFile(join(lab.dir, "isolated", "iso-1", "sshd.log"), "utf8");
const question =
  "If a proxy cannot reach the registry, carry the image through this machine's SSH connection (--relay auto)?";

beforeAll(async () => {
  lab = loadLab();
  iso = isolatedProxies(lab);
  await labCtl("isolated", "up", "1");
  await iso.clear(1);
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-wizard-relay-no-"));
  // A developer's folder: the pak and the inventory of the proxy that cannot reach the registry.
  folder = join(scratch, "project");
  await mkdir(join(folder, "home", ".ssh"), { recursive: true });
  await copyFile(lab.paks.sample, join(folder, "sample.pak"));
  await copyFile(join(lab.dir, "client", "inventory-isolated.yaml"), join(folder, "inventory-isolated.yaml"));
  await copyFile(
    join(lab.dir, "client", "known_hosts-isolated"),
    join(folder, "home", ".ssh", "known_hosts"),
  );
  // An earlier run answered yes (wizard-relay.test.ts makes one): the wizard's own state file says so.
  await mkdir(join(folder, "state", "mp-sideload"), { recursive: true });
  await writeFile(stateFile(), JSON.stringify({ relay: true }));
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
  await tmux("new-session", "-d", "-s", "wn", "-x", "250", "-y", "80", script);
}

/** The pak, the isolated inventory and its one proxy: up to the relay question. */
async function answerUpToTheRelayQuestion(): Promise<void> {
  await waitForScreen(/Which management pack\?/);
  await keys("Enter");
  // The second run offers the inventory the first one used, first and marked "(last used)".
  await waitForScreen(/Which cloud proxies\?[\s\S]*inventory-isolated\.yaml( \(last used\))? {2}1 proxy/);
  await keys("Enter");
  await waitForScreen(/Which proxies\?[\s\S]*◉ iso-1/);
  await keys("Enter");
}

/** Every distinct content of iso-1's /etc/hosts until `stop` is called, read every 50 ms. */
function watchHosts() {
  const seen = new Set<string>();
  let watching = true;
  const done = (async () => {
    while (watching) {
      seen.add(await iso.hostsOf(1));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await done;
      return [...seen];
    },
  };
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("the wizard onto a proxy that cannot reach the registry, answered no", () => {
  it("relays nothing: the row fails REGISTRY_UNREACHABLE with a --relay hint, the closing command has no --relay, /etc/hosts never changed", async () => {
    const original = await iso.originalHostsOf(1);
    const blobsBefore = await blobGets(lab);
    const forwardsBefore = ((await sshdLogOfIsolated()).match(/tcpip-forward/g) ?? []).length;
    const hosts = watchHosts();
    await startWizard();
    await answerUpToTheRelayQuestion();
    // The last run's yes is the default: answered no all the same.
    await waitForScreen(new RegExp(`${escaped(question)} \\(Y/n\\)`));
    await keys("n");
    await keys("Enter");

    await waitForScreen(/User for registry/, 60_000);
    await tmux("send-keys", "-t", "wn", "-l", lab.registryUser);
    await keys("Enter");
    await waitForScreen(/Password of mpuser at/);
    const pw = join(folder, "pw");
    await writeFile(pw, lab.registryPassword, { mode: 0o600 });
    await tmux("load-buffer", "-b", "pw", pw);
    await tmux("paste-buffer", "-d", "-b", "pw", "-t", "wn");
    await keys("Enter");
    const plan = await waitForScreen(/Pull onto 1 proxy now\?/, 60_000);
    // The plan has no relay step, nor the fallback of --relay auto.
    const planned = plan.slice(plan.indexOf("The plan (nothing has been done yet):"));
    expect(planned).toMatch(/^The plan[\s\S]*check the registry credentials/);
    // (The scratch folder's name holds "relay": the plan's words are what is looked for.)
    expect(planned).not.toMatch(/--relay|the relay|REGISTRY_UNREACHABLE/);
    await keys("Enter");

    const end = await waitForScreen(/EXIT=\d+/, 180_000);
    const seen = await hosts.stop();
    expect(end).toMatch(/EXIT=1\b/);
    expect(end).toMatch(/FAILED\s+iso-1\s+failed/);
    expect(end).toMatch(/0 ok, 1 failed, 1 in all/);
    const failure = /^\s+(REGISTRY_UNREACHABLE: .*)\n\s+hint: (.*)$/m.exec(end);
    expect(failure?.[1], end).toBeDefined();
    expect(failure?.[2]).toContain("--relay");
    expect(end).not.toContain(lab.registryPassword);

    const command = /^\s*(mp-sideload pull .*)$/m.exec(end)?.[1] ?? "";
    expect(command).toMatch(/ --inventory \S+inventory-isolated\.yaml --yes$/);
    expect(command).not.toContain("--relay");
    // Then the wizard says what would have carried it: the question's yes, or the flag.
    expect(end).toMatch(
      /^iso-1 could not reach \S+, which this machine reaches: answer yes to the relay question next time, or add --relay auto to the command above/m,
    );

    // Nothing was relayed: the proxy's /etc/hosts never held another line, its sshd was asked
    // for no remote forward, the registry served no blob, and the engine holds no image.
    expect(seen).toEqual([original]);
    expect(((await sshdLogOfIsolated()).match(/tcpip-forward/g) ?? []).length).toBe(forwardsBefore);
    expect(await blobGets(lab)).toEqual(blobsBefore);
    expect(await iso.engine(1).listImages()).toEqual([]);

    // The no is remembered, over the earlier yes.
    expect(JSON.parse(await readFile(stateFile(), "utf8"))).toMatchObject({ relay: false });
  }, 240_000);

  it("the next run asks again, with the remembered no as its default", async () => {
    await startWizard();
    await answerUpToTheRelayQuestion();
    await waitForScreen(new RegExp(`${escaped(question)} \\(y/N\\)`));
    await keys("C-c");
    const end = await waitForScreen(/EXIT=\d+/);
    expect(end).toMatch(/EXIT=130/);
    expect(JSON.parse(await readFile(stateFile(), "utf8"))).toMatchObject({ relay: false });
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
  }, 120_000);
});
