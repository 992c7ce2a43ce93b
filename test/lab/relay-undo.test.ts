/**
 * `pull --relay` when the connection to the proxy drops, and who may change /etc/hosts. A TCP
 * front in this process stands between mp-sideload and an isolated proxy's real sshd and cuts
 * (or freezes: nothing carried, nothing closed) every connection once the relay has sent a few
 * MiB of the image through it (the pull is then under way on the engine). The proofs are the proxy's own /etc/hosts byte for byte, its engine's
 * RepoDigests and the run's report; the refusals (no root, no become) change nothing there.
 */
import net from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli } from "./cli.js";
import { labCtl, loadLab, registryEnv, type Lab } from "./lab.js";
import { isolatedProxies, startIsolated } from "./isolated.js";

interface Front {
  port: number;
  /** Connections it has taken (refused ones too). */
  connections: number;
  /** Bytes from mp-sideload to the proxy: the relayed image travels this way. */
  sent: number;
  cutAll(): void;
  /** Stop carrying anything on the connections open now, without closing them: a frozen link. */
  freezeAll(): void;
  /** From now on, close every new connection at once: the proxy unreachable. */
  refuse(): void;
  close(): Promise<void>;
}

function startFront(host: string, port: number): Promise<Front> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let sent = 0;
  let refusing = false;
  const server = net.createServer((client) => {
    connections++;
    if (refusing) return void client.destroy();
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.on("data", (chunk: Buffer) => (sent += chunk.length));
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        get connections() {
          return connections;
        },
        get sent() {
          return sent;
        },
        cutAll: () => {
          for (const s of sockets) s.destroy();
        },
        freezeAll: () => {
          for (const s of sockets) {
            s.unpipe();
            s.removeAllListeners("data");
            s.pause();
          }
        },
        refuse: () => {
          refusing = true;
        },
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

let lab: Lab;
let iso: ReturnType<typeof isolatedProxies>;
let bigPak: string;
let isoAddress: string;
let isoHostKey: string;
let scratch: string;
let front: Front | undefined;

beforeAll(async () => {
  lab = loadLab();
  iso = isolatedProxies(lab);
  bigPak = await startIsolated(lab, 1);
  const known = (await readFile(join(lab.dir, "client", "known_hosts-isolated"), "utf8")).trim().split(" ");
  isoAddress = known[0] ?? "";
  isoHostKey = known.slice(1, 3).join(" ");
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-relay-undo-"));
}, 180_000);

afterEach(async () => {
  await front?.close();
  front = undefined;
});

afterAll(async () => {
  await labCtl("isolated", "down");
  await rm(scratch, { recursive: true, force: true });
});

/** Target flags for iso-1 reached through `through` (the front's port) or directly, as `user`. */
async function targetFlags(name: string, options: { port?: number; user?: string; become?: boolean }) {
  const host = options.port === undefined ? isoAddress : "127.0.0.1";
  const inventory = join(scratch, `${name}.yaml`);
  const knownHosts = join(scratch, `${name}.known_hosts`);
  const lines = [
    "defaults:",
    `  identity: ${lab.identity}`,
    "proxies:",
    `  - name: ${name}`,
    `    host: "${host}"`,
    ...(options.port === undefined ? [] : [`    port: ${options.port}`]),
    `    user: ${options.user ?? "root"}`,
    ...(options.become ? ["    become: true"] : []),
  ];
  await writeFile(inventory, lines.join("\n") + "\n");
  const keyName = options.port === undefined ? host : `[${host}]:${options.port}`;
  await writeFile(knownHosts, `${keyName} ${isoHostKey}\n`);
  return ["--inventory", inventory, "--known-hosts", knownHosts];
}

/** Cut every connection through `f` (or `how`) once the relay has sent `bytes` through it. */
function cutAfter(
  f: Front,
  bytes: number,
  then?: () => void,
  how: () => void = () => f.cutAll(),
): { cut: Promise<void>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (f.sent < bytes) return;
      clearInterval(timer);
      then?.();
      how();
      resolve();
    }, 20);
  });
  return { cut, stop: () => clearInterval(timer) };
}

const marker = "# mp-sideload relay";

describe("a connection dropped during a relayed pull", () => {
  it("is re-established: the forward and the line anew, the pull re-issued, the line gone, the exact reference", async () => {
    await iso.clear(1);
    front = await startFront(isoAddress, 22);
    const targets = await targetFlags("iso-1-front", { port: front.port });
    const watch = cutAfter(front, 8 * 1024 * 1024);
    const run = await runCli(["pull", bigPak, ...targets, "--relay", "--retries", "3", "--json"], {
      env: registryEnv(lab),
    });
    watch.stop();
    expect(front.sent, "the cut came before the pull ended").toBeGreaterThan(8 * 1024 * 1024);
    expect(run.code, run.stderr).toBe(0);
    const [row] = parseReport(run).proxies as {
      status: string;
      via?: string;
      attempts?: number;
      reference: string;
    }[];
    expect(row).toMatchObject({ status: "pulled", via: "relay", attempts: 2 });
    expect(front.connections).toBeGreaterThanOrEqual(2);
    const inspect = await iso
      .engine(1)
      .getImage(row?.reference ?? "")
      .inspect();
    expect(inspect.RepoDigests).toEqual([row?.reference]);
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("with no retries left the row fails SSH_DISCONNECTED, and a fresh connection removes the line", async () => {
    await iso.clear(1);
    front = await startFront(isoAddress, 22);
    const targets = await targetFlags("iso-1-front", { port: front.port });
    const watch = cutAfter(front, 8 * 1024 * 1024);
    const run = await runCli(["pull", bigPak, ...targets, "--relay", "--retries", "0", "--json"], {
      env: registryEnv(lab),
    });
    watch.stop();
    expect(run.code, run.stderr).toBe(1);
    const [row] = parseReport(run).proxies;
    expect(row?.error?.code).toBe("SSH_DISCONNECTED");
    // The run's connection and the one that took the line away.
    expect(front.connections).toBe(2);
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
    expect(await iso.engine(1).listImages()).toEqual([]);
  });

  it("when the proxy stays unreachable, says the line is left and who removes it; doctor then does", async () => {
    await iso.clear(1);
    front = await startFront(isoAddress, 22);
    const targets = await targetFlags("iso-1-front", { port: front.port });
    const f = front;
    const watch = cutAfter(front, 8 * 1024 * 1024, () => f.refuse());
    const run = await runCli(["pull", bigPak, ...targets, "--relay", "--retries", "0", "--json"], {
      env: registryEnv(lab),
    });
    watch.stop();
    expect(run.code, run.stderr).toBe(1);
    expect(parseReport(run).proxies[0]?.error?.code).toBe("SSH_DISCONNECTED");
    expect(run.stderr).toContain("the relay's /etc/hosts line could not be removed");
    expect(run.stderr).toContain("the next run or doctor removes it");
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(await iso.hostsOf(1)).toContain(marker);
    // Its keeper died with the connection: doctor, straight to the proxy, removes it.
    const doctor = await runCli(["doctor", ...(await targetFlags("iso-1", {})), "--json"]);
    expect(doctor.stdout).toContain("removed /etc/hosts lines left by killed pull --relay runs");
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
  });
});

describe("a link that freezes during a relayed pull (no close: sshd keeps the connection)", () => {
  const ended = "ended a connection of this run that sshd still held";

  it("the keepalive gives it up; the next connection ends the one sshd holds, with its forward, and the pull lands", async () => {
    await iso.clear(1);
    front = await startFront(isoAddress, 22);
    const targets = await targetFlags("iso-1-front", { port: front.port });
    const f = front;
    const watch = cutAfter(f, 8 * 1024 * 1024, undefined, () => f.freezeAll());
    const run = await runCli(["pull", bigPak, ...targets, "--relay", "--retries", "3", "--json"], {
      env: registryEnv(lab),
    });
    watch.stop();
    expect(run.code, run.stderr).toBe(0);
    const [row] = parseReport(run).proxies as {
      status: string;
      via?: string;
      attempts?: number;
      reference: string;
    }[];
    expect(row).toMatchObject({ status: "pulled", via: "relay", attempts: 2 });
    // Without ending it, the held forward makes the second attempt RELAY_PORT_IN_USE.
    expect(run.stderr).toContain(ended);
    const inspect = await iso
      .engine(1)
      .getImage(row?.reference ?? "")
      .inspect();
    expect(inspect.RepoDigests).toEqual([row?.reference]);
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
  });

  it("past the deadline, undo leaves the silent connection for a fresh one: the line gone, the port free for the next run", async () => {
    await iso.clear(1);
    front = await startFront(isoAddress, 22);
    const targets = await targetFlags("iso-1-front", { port: front.port });
    const f = front;
    const watch = cutAfter(f, 8 * 1024 * 1024, undefined, () => f.freezeAll());
    const run = await runCli(
      ["pull", bigPak, ...targets, "--relay", "--retries", "0", "--timeout", "12", "--json"],
      { env: registryEnv(lab) },
    );
    watch.stop();
    expect(run.code, run.stderr).toBe(1);
    expect(parseReport(run).proxies[0]?.error?.code).toBe("TIMEOUT");
    expect(run.stderr).toContain(ended);
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
    // The frozen connection's forward is gone too: a run straight to the proxy relays at once.
    const next = await runCli(["pull", bigPak, ...(await targetFlags("iso-1", {})), "--relay", "--json"], {
      env: registryEnv(lab),
    });
    expect(next.code, next.stderr).toBe(0);
    expect(parseReport(next).proxies.map((r) => r.status)).toEqual(["pulled"]);
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
  });
});

describe("who may change /etc/hosts", () => {
  it("a user who is not root, without become: RELAY_NEEDS_ROOT naming both ways, nothing changed", async () => {
    await iso.clear(1);
    const targets = await targetFlags("iso-1-user", { user: lab.passwordUser });
    const run = await runCli(["pull", lab.paks.sample, ...targets, "--relay", "--json"], {
      env: registryEnv(lab),
    });
    expect(run.code, run.stderr).toBe(1);
    const [row] = parseReport(run).proxies;
    expect(row?.error?.code).toBe("RELAY_NEEDS_ROOT");
    expect(row?.error?.hint).toContain("--ssh-user root");
    expect(row?.error?.hint).toContain("--become");
    expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
    expect(await iso.engine(1).listImages()).toEqual([]);
  });

  it("become (sudo) as a user who cannot log in as root: lands the exact reference, the file as it was", async () => {
    await iso.clear(1);
    // The lab's sudo users exist once a proxy's root login is off; proxy 3's is turned back on.
    await labCtl("root-login", "3", "off");
    try {
      const targets = await targetFlags("iso-1-become", { user: "mpadmin", become: true });
      const run = await runCli(["pull", lab.paks.sample, ...targets, "--relay", "--json"], {
        env: registryEnv(lab),
      });
      expect(run.code, run.stderr).toBe(0);
      expect(parseReport(run).proxies.map((r) => [r.status, (r as { via?: string }).via])).toEqual([
        ["pulled", "relay"],
      ]);
      const inspect = await iso.engine(1).getImage(lab.sampleReference).inspect();
      expect(inspect.RepoDigests).toEqual([lab.sampleReference]);
      expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
    } finally {
      await labCtl("root-login", "3", "on");
    }
  });
});
