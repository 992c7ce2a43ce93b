/**
 * The scripts that change a proxy's /etc/hosts, run for real by this machine's `sh` (as root,
 * like the tests' lab) on a file of their own: the marked line added and removed byte for byte
 * with owner and mode kept, a killed run's line removed while a live one stays, two runs at
 * once, and a bind-mounted file (where a rename over it fails with EBUSY).
 */
import { execFile, spawn } from "node:child_process";
import { chmod, chown, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Duplex } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SshConnection } from "../../src/ssh/connect.js";
import {
  addHostsLine,
  endEarlierConnections,
  readHosts,
  removeHostsLine,
  removeStaleHostsLines,
  startKeeper,
  type HostsAccess,
} from "../../src/relay/proxy-hosts.js";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const original =
  "127.0.0.1\tlocalhost\n10.0.0.5 harbor.example.com # the LAN one\n::1 localhost ip6-localhost";
let dir: string;
let file: string;

/** `sh -c SCRIPT sh ARGS…` here, as the session runs it on a proxy. */
function access(hostsFile: string): HostsAccess {
  return {
    hostsFile,
    execScript: (script, args, stdin = "") =>
      new Promise((resolve) => {
        const child = spawn("sh", ["-c", script, "sh", ...args]);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) => resolve({ stdout, stderr, code }));
        // A script that refuses may exit before it reads its input: the write then meets EPIPE,
        // which the exit status already tells.
        child.stdin.on("error", () => undefined);
        child.stdin.end(stdin);
      }),
  };
}

/** A keeper started the way a run starts it, its channel a local `sh`. */
function localConnection(): SshConnection {
  return {
    execStream: (command: string) => {
      const child = spawn("sh", ["-c", command]);
      return Promise.resolve(Duplex.from({ readable: child.stdout, writable: child.stdin }));
    },
  } as unknown as SshConnection;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-hosts-"));
  file = join(dir, "hosts");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)("the hosts line on a proxy", () => {
  it("adds the line, sets the LAN entry aside, and gives the file back byte for byte with owner and mode", async () => {
    await writeFile(file, original);
    await chmod(file, 0o640);
    await chown(file, 0, 4);
    const keeper = await startKeeper(localConnection());
    const added = await addHostsLine(
      access(file),
      { runId: "run-1", host: "harbor.example.com", keeper: keeper.pid },
      "cp",
    );
    expect(added.setAside).toEqual(["10.0.0.5 harbor.example.com # the LAN one"]);
    const during = await readFile(file, "utf8");
    expect(during).toContain(`127.0.0.1 harbor.example.com # mp-sideload relay run-1 keeper=${keeper.pid}`);
    expect(during).not.toMatch(/^10\.0\.0\.5/m);
    const state = await readHosts(access(file), [], "cp");
    expect(state.alive.has(keeper.pid)).toBe(true);
    await removeHostsLine(access(file), "run-1", "cp");
    keeper.stop();
    expect(await readFile(file, "utf8")).toBe(original);
    const after = await stat(file);
    expect([after.mode & 0o777, after.uid, after.gid]).toEqual([0o640, 0, 4]);
    expect((await run("ls", ["-A", dir])).stdout.trim()).toBe("hosts"); // no temporary file left
  });

  it("removes a killed run's line and says so, and never a live run's", async () => {
    await writeFile(file, original);
    const dead = await startKeeper(localConnection());
    const live = await startKeeper(localConnection());
    await addHostsLine(access(file), { runId: "dead-1", host: "a.example.com", keeper: dead.pid }, "cp");
    await addHostsLine(access(file), { runId: "live-1", host: "b.example.com", keeper: live.pid }, "cp");
    dead.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const added = await addHostsLine(
      access(file),
      { runId: "new-1", host: "c.example.com", keeper: live.pid },
      "cp",
    );
    expect(added.stale.map((m) => m.runId)).toEqual(["dead-1"]);
    const text = await readFile(file, "utf8");
    expect(text).toContain("live-1");
    expect(text).not.toContain("dead-1");
    live.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await removeStaleHostsLines(access(file), "cp")).map((m) => m.runId)).toEqual([
      "live-1",
      "new-1",
    ]);
    expect(await readFile(file, "utf8")).toBe(original);
  });

  it("two runs at once keep each other's line", async () => {
    await writeFile(file, original);
    const keeper = await startKeeper(localConnection());
    await Promise.all(
      ["p-1", "p-2", "p-3", "p-4"].map((runId, i) =>
        addHostsLine(access(file), { runId, host: `r${i}.example.com`, keeper: keeper.pid }, "cp"),
      ),
    );
    const text = await readFile(file, "utf8");
    for (const id of ["p-1", "p-2", "p-3", "p-4"]) expect(text).toContain(` ${id} `);
    await Promise.all(["p-1", "p-2", "p-3", "p-4"].map((id) => removeHostsLine(access(file), id, "cp")));
    keeper.stop();
    expect(await readFile(file, "utf8")).toBe(original);
  });

  it("changes a bind-mounted file in place, where a rename over it fails", async () => {
    const source = join(dir, "source-hosts");
    const target = join(dir, "mounted-hosts");
    const plain = "127.0.0.1 localhost\n";
    await writeFile(source, plain);
    await writeFile(target, "");
    await run("mount", ["--bind", source, target]);
    try {
      const before = await stat(target);
      const keeper = await startKeeper(localConnection());
      await addHostsLine(
        access(target),
        { runId: "bind-1", host: "harbor.example.com", keeper: keeper.pid },
        "cp",
      );
      expect(await readFile(source, "utf8")).toContain("bind-1");
      await removeHostsLine(access(target), "bind-1", "cp");
      keeper.stop();
      expect(await readFile(source, "utf8")).toBe(plain);
      expect((await stat(target)).ino).toBe(before.ino);
    } finally {
      await run("umount", [target]);
    }
  });

  it("reports the forward's port in use on the loopback", async () => {
    const net = await import("node:net");
    const server = net.createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const port = (server.address() as AddressInfo).port;
    await writeFile(file, original);
    const state = await readHosts(access(file), [port, 1], "cp");
    server.close();
    expect(state.portsInUse).toEqual([port]);
  });
});

describe.skipIf(!isRoot)("this run's earlier connections, still held by sshd", () => {
  /** A child that prints a pid on its first line; that pid. */
  const pidOf = (child: ReturnType<typeof spawn>) =>
    new Promise<number>((resolve) =>
      child.stdout?.once("data", (d: Buffer) => resolve(Number(String(d).trim()))),
    );
  const keeperBelow = (argv0: string) =>
    spawn("bash", ["-c", `exec -a '${argv0}' bash -c 'exec 3<&0; cat <&3 & echo $!; wait'`], {
      stdio: ["pipe", "pipe", "ignore"],
    });

  it("ends the process sshd runs for such a connection (a keeper's parent), and nothing else", async () => {
    // Stand-ins: a shell named as sshd names a connection's process, with a keeper below it; and
    // a keeper below a shell that is not sshd's.
    const held = keeperBelow("sshd: root@notty");
    const other = keeperBelow("bash");
    const [keeper, unrelated] = await Promise.all([pidOf(held), pidOf(other)]);
    const heldExit = new Promise((resolve) => held.once("exit", (_code, signal) => resolve(signal)));
    try {
      const ended = await endEarlierConnections(access(file), [keeper, unrelated, process.pid], "cp-1");
      expect(ended).toEqual([keeper]);
      expect(await heldExit).toBe("SIGTERM");
      expect(other.exitCode).toBeNull();
      expect(other.signalCode).toBeNull();
    } finally {
      for (const pid of [keeper, unrelated]) {
        try {
          process.kill(pid);
        } catch {
          // gone already
        }
      }
      other.kill();
    }
  });
});

describe("the hosts line without root", () => {
  it("refuses with RELAY_NEEDS_ROOT and changes nothing", async () => {
    const notRoot: HostsAccess = {
      hostsFile: "/nonexistent",
      execScript: (script, args, stdin) =>
        access("/x").execScript(script.replace('"$(id -u)" = 0', '"1" = 0'), args, stdin),
    };
    await expect(readHosts(notRoot, [], "cp-1")).rejects.toMatchObject({ code: "RELAY_NEEDS_ROOT" });
  });
});
