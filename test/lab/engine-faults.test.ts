/**
 * Engine faults of the real world (issue 19), against the lab's real sshd and engines: an engine
 * restarted in the middle of a large pull, and a fake engine streaming one endless line beside a
 * healthy proxy in the same batch.
 */
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPak } from "../../src/pak/read-pak.js";
import { sideloadProxy } from "../../src/sideload/sideload-proxy.js";
import type { AdapterImage, SideloadEvent, SideloadJob } from "../../src/sideload/types.js";
import { parseKnownHosts } from "../../src/ssh/known-hosts.js";
import { parseReport, runCli, type JsonReport } from "./cli.js";
import {
  bin,
  clearImages,
  labCtl,
  labRegistries,
  loadLab,
  registryEnv,
  repoDigests,
  type Lab,
} from "./lab.js";

let lab: Lab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-engine-faults-"));
  await chmod(scratch, 0o755);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("an engine restarted mid-pull of a large image", () => {
  it("is told from an SSH drop, waited for on the same connection, and the row ends pulled with attempts >= 2", async () => {
    const reference = (await labCtl("big-image", "128")).trim();
    await clearImages(lab, 1);
    const job: SideloadJob = {
      mode: "pull",
      images: (await readPak(join(lab.dir, "paks/big-128.pak"))).adapters,
      retries: 8,
      timeoutMs: 110_000,
      registries: labRegistries(lab),
    };
    const events: SideloadEvent[] = [];
    let restart: Promise<unknown> | undefined;
    let bytesAtRestart = 0;
    const results = await sideloadProxy(
      { name: "proxy-1", host: "127.0.0.1", port: lab.firstSshPort, user: "root", groups: [] },
      job,
      {
        knownHosts: parseKnownHosts(await readFile(lab.knownHosts, "utf8")),
        connect: {
          hostKeys: { knownHostsFile: lab.knownHosts, acceptNew: false },
          auth: { identities: [lab.identity] },
        },
        backoffMs: () => 500,
        onEvent: (event) => {
          events.push(event);
          // Bytes are coming in: the engine is pulling now. Restart it under the pull.
          if (event.type === "pull-progress" && event.progress.bytesDone > 0 && restart === undefined) {
            bytesAtRestart = event.progress.bytesDone;
            restart = labCtl("stop-engine", "1").then(() => labCtl("start-engine", "1"));
          }
        },
      },
    );
    await restart;
    expect(bytesAtRestart).toBeLessThan(128 * 1024 * 1024);
    const retries = events.filter((e) => e.type === "retry");
    expect(retries.length).toBeGreaterThanOrEqual(1);
    // The story is the engine's, not the network's.
    expect(retries[0]?.type === "retry" && retries[0].error.code).toMatch(/^ENGINE_(RESTARTED|UNREACHABLE)$/);
    expect(retries.some((e) => e.type === "retry" && e.error.code === "SSH_DISCONNECTED")).toBe(false);
    // SSH stayed up: one connection for the whole run.
    expect(events.filter((e) => e.type === "step-started" && e.step === "connect")).toHaveLength(1);
    expect(results[0], JSON.stringify(results[0]?.error)).toMatchObject({ status: "pulled", reference });
    expect(results[0]?.attempts).toBeGreaterThanOrEqual(2);
    expect(await repoDigests(lab, 1)).toContain(reference);
    await clearImages(lab, 1);
  });
});

describe("a fake engine streaming one endless line", () => {
  let fake: http.Server;
  const socket = () => join(scratch, "endless.sock");
  let sent = 0;

  beforeAll(async () => {
    const chunk = "x".repeat(1024 * 1024);
    fake = http.createServer((request, response) => {
      const url = request.url ?? "";
      response.setHeader("content-type", "application/json");
      if (url.endsWith("/version"))
        return response.end(JSON.stringify({ Version: "27.0.0", ApiVersion: "1.47" }));
      if (url.startsWith("/auth")) return response.end(JSON.stringify({ Status: "Login Succeeded" }));
      if (url.startsWith("/images/create")) {
        // No newline, ever (up to 1 GiB): a reader that waits for one keeps it all.
        const pump = () => {
          while (!response.destroyed && sent < 1024 * 1024 * 1024) {
            sent += chunk.length;
            if (!response.write(chunk)) return void response.once("drain", pump);
          }
        };
        return pump();
      }
      response.statusCode = 404;
      response.end(JSON.stringify({ message: "No such image" }));
    });
    await new Promise<void>((resolve) => fake.listen(socket(), resolve));
  });

  afterAll(() => {
    fake.closeAllConnections();
    fake.close();
  });

  /** Run the CLI, sampling its peak RSS (VmHWM) while it runs. */
  function runMeasured(
    args: string[],
  ): Promise<{ code: number | null; report: JsonReport; peakRssMb: number }> {
    return new Promise((resolve, reject) => {
      const child = spawn(bin, args, {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: process.env.HOME ?? "/root",
          CI: "true",
          ...registryEnv(lab),
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let peakKb = 0;
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.resume();
      const sample = setInterval(() => {
        readFile(`/proc/${child.pid}/status`, "utf8").then(
          (status) => (peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0))),
          () => undefined,
        );
      }, 50);
      const guard = setTimeout(() => child.kill("SIGKILL"), 100_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearInterval(sample);
        clearTimeout(guard);
        resolve({ code, report: JSON.parse(stdout) as JsonReport, peakRssMb: peakKb / 1024 });
      });
    });
  }

  async function inventory(withFake: boolean): Promise<string> {
    const file = join(scratch, `inventory-${withFake}.yaml`);
    const lines = ["defaults:", "  user: root", `  identity: ${lab.identity}`, "proxies:"];
    if (withFake) {
      lines.push(
        "  - name: proxy-1",
        "    host: 127.0.0.1",
        `    port: ${lab.firstSshPort}`,
        `    dockerSocket: ${socket()}`,
      );
    }
    lines.push("  - name: proxy-2", "    host: 127.0.0.1", `    port: ${lab.firstSshPort + 1}`);
    await writeFile(file, `${lines.join("\n")}\n`);
    return file;
  }

  it("fails that proxy with ENGINE_BAD_STREAM, RSS stays under 200 MB, the healthy proxy within 2x its time alone", async () => {
    const args = async (withFake: boolean) => [
      "pull",
      lab.paks.sample,
      "--inventory",
      await inventory(withFake),
      "--known-hosts",
      lab.knownHosts,
      "--json",
    ];
    await clearImages(lab, 2);
    const alone = await runMeasured(await args(false));
    expect(alone.report.proxies.map((p) => p.status)).toEqual(["pulled"]);
    await clearImages(lab, 2);
    const both = await runMeasured(await args(true));
    expect(both.code).toBe(1);
    const [bad, healthy] = both.report.proxies;
    expect(bad?.error?.code).toBe("ENGINE_BAD_STREAM");
    expect(bad?.error?.message).toMatch(/more than 64 KiB/);
    expect(healthy?.status).toBe("pulled");
    expect(both.peakRssMb).toBeLessThan(200);
    expect(sent).toBeLessThan(256 * 1024 * 1024);
    // Twice its time alone, and 300 ms for the noise of a shared machine.
    expect(healthy?.durationMs).toBeLessThan(2 * (alone.report.proxies[0]?.durationMs ?? 0) + 300);
  });
});

describe("an engine on a small disk", () => {
  it("gives PROXY_DISK_FULL naming the engine's root, the free space and what frees it", async () => {
    await labCtl("big-image", "128");
    await labCtl("small-disk", "1", "48");
    try {
      const run = await runCli(
        [
          "pull",
          join(lab.dir, "paks/big-128.pak"),
          "--inventory",
          lab.inventory,
          "--limit",
          "proxy-1",
          "--known-hosts",
          lab.knownHosts,
          "--json",
        ],
        { env: registryEnv(lab) },
      );
      expect(run.code, run.stderr).toBe(1);
      const row = parseReport(run).proxies[0];
      expect(row).toMatchObject({ status: "failed", failedStep: "pull" });
      expect(row?.error?.code).toBe("PROXY_DISK_FULL");
      const root = join(lab.dir, "proxies/proxy-1/data");
      expect(row?.error?.message).toContain(`the engine keeps images in ${root} (`);
      expect(row?.error?.message).toMatch(
        /\d+(\.\d)? MiB free there now; the image's layers are 128 MiB compressed/,
      );
      expect(row?.error?.hint).toMatch(/mp-sideload prune .*docker image prune/);
    } finally {
      await labCtl("small-disk", "1", "off");
    }
  });
});

/**
 * A TCP relay in front of the registry (TLS passes through it untouched) whose first
 * `stalls` connections stop forwarding the registry's bytes after `afterBytes`, and stay open:
 * a blob that stops mid-transfer.
 */
function startStallingRelay(target: string, afterBytes: number, stalls: number) {
  const [targetHost = "", targetPort = ""] = target.split(":");
  const sockets = new Set<net.Socket>();
  let stalled = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.pipe(upstream);
    let sent = 0;
    let stalling = false;
    upstream.on("data", (data: Buffer) => {
      if (stalling) return;
      if (sent + data.length > afterBytes && stalled < stalls) {
        // Read no more: the registry's sends block, nothing more arrives, nothing ends.
        stalled++;
        stalling = true;
        upstream.pause();
        return;
      }
      sent += data.length;
      client.write(data);
    });
    upstream.on("end", () => client.end());
  });
  return new Promise<{ port: number; stalled: () => number; close: () => Promise<void> }>((resolve) => {
    // Both families: the registry's name resolves to ::1 as well as 127.0.0.1.
    server.listen(0, "::", () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        stalled: () => stalled,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

describe("a blob that stops mid-transfer", () => {
  async function pullThroughStallingRelay(retries: number, stalls: number) {
    const digest = (await labCtl("big-image", "32")).trim().split("@")[1] ?? "";
    await clearImages(lab, 1);
    const relay = await startStallingRelay(lab.registry, 4 * 1024 * 1024, stalls);
    // The registry's own name on the relay's port: its certificate still matches.
    const registry = `${lab.registry.split(":")[0]}:${relay.port}`;
    const image: AdapterImage = {
      kind: "BigAdapter",
      registry,
      repository: "/mp/big-adapter-32",
      digest,
      reference: `${registry}/mp/big-adapter-32@${digest}`,
    };
    const job: SideloadJob = {
      mode: "pull",
      images: [image],
      retries,
      timeoutMs: 100_000,
      stallTimeoutMs: 3000,
      registryCa: await readFile(lab.caFile, "utf8"),
      registries: labRegistries(lab),
    };
    const events: SideloadEvent[] = [];
    const t0 = Date.now();
    try {
      const results = await sideloadProxy(
        { name: "proxy-1", host: "127.0.0.1", port: lab.firstSshPort, user: "root", groups: [] },
        job,
        {
          knownHosts: parseKnownHosts(await readFile(lab.knownHosts, "utf8")),
          connect: {
            hostKeys: { knownHostsFile: lab.knownHosts, acceptNew: false },
            auth: { identities: [lab.identity] },
          },
          backoffMs: () => 200,
          onEvent: (event) => events.push(event),
        },
      );
      return {
        result: results[0],
        events,
        ms: Date.now() - t0,
        stalled: relay.stalled(),
        reference: image.reference,
      };
    } finally {
      await relay.close();
      await rm(`/etc/docker/certs.d/${registry}`, { recursive: true, force: true });
    }
  }

  it("fails PULL_STALLED within the stall timeout plus 5 s, under a much larger --timeout", async () => {
    const { result, ms, stalled } = await pullThroughStallingRelay(0, 100);
    expect(stalled).toBeGreaterThanOrEqual(1);
    expect(result?.error?.code, JSON.stringify(result?.error)).toBe("PULL_STALLED");
    expect(result?.error?.message).toMatch(/made no progress for 3 s/);
    expect(result?.error?.hint).toMatch(/check the path between them/);
    expect(ms).toBeLessThan(3000 + 5000 + 2000); // the connect, login and first bytes: under 2 s
  });

  it("is re-issued within --retries and ends pulled when the registry moves again", async () => {
    const { result, events, reference } = await pullThroughStallingRelay(3, 1);
    const retries = events.flatMap((e) => (e.type === "retry" ? [e.error.code] : []));
    // The relay stalls one transfer; on a loaded machine a later one may pause past 3 s too.
    expect(retries[0]).toBe("PULL_STALLED");
    expect(new Set(retries)).toEqual(new Set(["PULL_STALLED"]));
    expect(result, JSON.stringify(result?.error)).toMatchObject({ status: "pulled", reference });
    expect(result?.attempts).toBe(retries.length + 1);
    expect(await repoDigests(lab, 1)).toContain(reference);
    await clearImages(lab, 1);
  });
});
