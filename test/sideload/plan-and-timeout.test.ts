import net from "node:net";
import { describe, expect, it } from "vitest";
import { planSideload } from "../../src/sideload/plan.js";
import { runBatch } from "../../src/sideload/run-batch.js";
import type { SideloadEvent, SideloadJob } from "../../src/sideload/types.js";

const digest = `sha256:${"a".repeat(64)}`;
const job: SideloadJob = {
  mode: "pull",
  images: [
    {
      kind: "K",
      registry: "r.example:5000",
      repository: "/mp/a",
      digest,
      reference: `r.example:5000/mp/a@${digest}`,
    },
  ],
  retries: 1,
  timeoutMs: 1000,
};
const proxy = (name: string, port: number) => ({ name, host: "127.0.0.1", port, user: "root", groups: [] });

describe("planSideload", () => {
  it("lists every step of pull for each proxy, and only the presence check for verify", () => {
    const [pull] = planSideload([proxy("cp1", 22)], job, "/k");
    expect(pull?.steps).toHaveLength(6);
    expect(pull?.steps[0]).toContain("root@127.0.0.1:22");
    expect(pull?.steps.join("\n")).toContain(`pull ${job.images[0]?.reference}`);
    const [verify] = planSideload([proxy("cp1", 22)], { ...job, mode: "verify" }, "/k");
    expect(verify?.steps).toHaveLength(3);
    expect(verify?.steps.join("\n")).not.toContain("pull");
  });
});

describe("runBatch without a lab", () => {
  it("a proxy that accepts TCP but never speaks SSH times out; an unreachable one fails; both are reported", async () => {
    // A silent server: the fault a real sshd does not give (a hung handshake).
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const events: SideloadEvent[] = [];
    try {
      const report = await runBatch([proxy("hung", silentPort), proxy("gone", closedPort)], job, {
        concurrency: 2,
        knownHosts: [],
        connect: { hostKeys: { knownHostsFile: "/nonexistent", acceptNew: false }, auth: { identities: [] } },
        onEvent: (e) => events.push(e),
      });
      expect(report.proxies.map((p) => [p.name, p.status, p.error?.code, p.failedStep])).toEqual([
        ["hung", "failed", "TIMEOUT", "connect"],
        ["gone", "failed", "SSH_UNREACHABLE", "connect"],
      ]);
      expect(report.summary).toEqual({ ok: 0, failed: 2, total: 2 });
      expect(events.filter((e) => e.type === "proxy-finished")).toHaveLength(2);
    } finally {
      silent.close();
    }
  });

  it("an interrupted run reports the proxies it did not start as skipped", async () => {
    const controller = new AbortController();
    controller.abort(new Error("interrupted"));
    const report = await runBatch([proxy("a", 1), proxy("b", 1)], job, {
      concurrency: 1,
      knownHosts: [],
      connect: { hostKeys: { knownHostsFile: "/nonexistent", acceptNew: false }, auth: { identities: [] } },
      onEvent: () => undefined,
      signal: controller.signal,
    });
    expect(report.proxies.map((p) => p.status)).toEqual(["skipped", "skipped"]);
    expect(report.proxies[0]?.error?.code).toBe("INTERRUPTED");
  });
});
