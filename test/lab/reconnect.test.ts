/**
 * A connection that drops during the pull: a TCP relay on loopback stands between mp-sideload
 * and a lab proxy's real sshd, and cuts every connection once the engine is pulling. The
 * engine cancels the pull when its client goes; mp-sideload must reconnect and re-issue it.
 */
import net from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { sideloadProxy } from "../../src/sideload/sideload-proxy.js";
import { parseKnownHosts } from "../../src/ssh/known-hosts.js";
import type { SideloadEvent, SideloadJob } from "../../src/sideload/types.js";
import { readPak } from "../../src/pak/read-pak.js";
import { clearImages, labRegistries, loadLab, repoDigests, type Lab } from "./lab.js";

interface Relay {
  port: number;
  connections: number;
  cutAll(): void;
  /** Close every connection that comes in the next `ms`: sshd unreachable for a while. */
  refuseFor(ms: number): void;
  close(): Promise<void>;
}

function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let refusingUntil = 0;
  const server = net.createServer((client) => {
    connections++;
    if (Date.now() < refusingUntil) return void client.destroy();
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        get connections() {
          return connections;
        },
        cutAll: () => {
          for (const s of sockets) s.destroy();
        },
        refuseFor: (ms) => {
          refusingUntil = Date.now() + ms;
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
let relay: Relay | undefined;

/** A relay in front of proxy-1's sshd, and what sideloadProxy needs to go through it. */
async function throughRelay(retries: number) {
  await clearImages(lab, 1);
  relay = await startRelay(lab.firstSshPort);
  const hostKey = (await readFile(join(lab.dir, "proxies/proxy-1/ssh_host_ed25519_key.pub"), "utf8"))
    .split(" ")
    .slice(0, 2)
    .join(" ");
  const job: SideloadJob = {
    mode: "pull",
    images: (await readPak(lab.paks.sample)).adapters,
    retries,
    timeoutMs: 120_000,
    registries: labRegistries(lab),
  };
  const proxy = { name: "proxy-1-via-relay", host: "127.0.0.1", port: relay.port, user: "root", groups: [] };
  const deps = {
    knownHosts: parseKnownHosts(`[127.0.0.1]:${relay.port} ${hostKey}\n`),
    connect: {
      hostKeys: { knownHostsFile: "/nonexistent/known_hosts", acceptNew: false },
      auth: { identities: [lab.identity] },
    },
  };
  return { relay, job, proxy, deps };
}

beforeAll(() => {
  lab = loadLab();
});

afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

describe("a connection dropped mid-pull", () => {
  it("is re-established and the pull re-issued, ending with the exact reference on the proxy", async () => {
    const { relay, job, proxy, deps } = await throughRelay(3);
    const events: SideloadEvent[] = [];
    let cut = false;
    const results = await sideloadProxy(proxy, job, {
      ...deps,
      backoffMs: () => 200,
      onEvent: (event) => {
        events.push(event);
        // The engine is streaming pull progress: it is pulling now. Cut the line under it.
        if (event.type === "pull-progress" && !cut) {
          cut = true;
          relay.cutAll();
        }
      },
    });
    expect(cut).toBe(true);
    const retries = events.filter((e) => e.type === "retry");
    expect(retries).toHaveLength(1);
    expect(retries[0]?.type === "retry" && retries[0].error.code).toBe("SSH_DISCONNECTED");
    expect(relay.connections).toBe(2);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ status: "pulled", attempts: 2, reference: lab.sampleReference });
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);
  });

  it("gives up after --retries and reports SSH_DISCONNECTED", async () => {
    const { relay, job, proxy, deps } = await throughRelay(1);
    let pending = false;
    const results = await sideloadProxy(proxy, job, {
      ...deps,
      backoffMs: () => 100,
      // Cut at every pull's first progress event: no attempt can finish.
      onEvent: (event) => {
        if (event.type === "step-started" && event.step === "pull") pending = true;
        if (event.type === "pull-progress" && pending) {
          pending = false;
          relay.cutAll();
        }
        if (event.type === "retry") pending = true;
      },
    });
    expect(results[0]).toMatchObject({ status: "failed", failedStep: "pull", attempts: 2 });
    expect(results[0]?.error?.code).toBe("SSH_DISCONNECTED");
  });
  it("an outage longer than the first backoff: failed reconnects stay in the loop, the row ends pulled", async () => {
    const { relay, job, proxy, deps } = await throughRelay(6);
    const events: SideloadEvent[] = [];
    let cut = false;
    const results = await sideloadProxy(proxy, job, {
      ...deps,
      backoffMs: () => 300,
      onEvent: (event) => {
        events.push(event);
        if (event.type === "pull-progress" && !cut) {
          cut = true;
          relay.refuseFor(1000);
          relay.cutAll();
        }
      },
    });
    const codes = events.flatMap((e) => (e.type === "retry" ? [e.error.code] : []));
    expect(codes[0]).toBe("SSH_DISCONNECTED");
    // The reconnects refused during the outage were retried, not thrown out of the loop.
    expect(codes.slice(1).length).toBeGreaterThanOrEqual(1);
    expect(results[0], JSON.stringify(results[0]?.error)).toMatchObject({
      status: "pulled",
      reference: lab.sampleReference,
    });
    expect(results[0]?.attempts).toBe(codes.length + 1);
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);
  });
});
