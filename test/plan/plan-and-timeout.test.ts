import net from "node:net";
import { describe, expect, it } from "vitest";
import { planOutline, planSideload } from "../../src/plan/plan.js";
import { renderPlan, renderPlanJson } from "../../src/cli/render/batch.js";
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

describe("the plan is the steps that run (steps.ts)", () => {
  it("pull --prune's step is in the outline and in each proxy's steps, after the verify; never without --prune", () => {
    const pruning = { ...job, prune: { keep: 2 } };
    const outline = planOutline(pruning, "/k");
    expect(outline.at(-1)).toMatch(/remove the old images of their repositories, keeping 2/);
    const [p] = planSideload([proxy("cp1", 22)], pruning, "/k");
    expect(p?.steps).toHaveLength(7);
    expect(p?.steps.at(-1)).toMatch(/remove the old images/);
    expect(planOutline(job, "/k").join("\n")).not.toMatch(/remove/);
    expect(planOutline({ ...pruning, mode: "verify" }, "/k").join("\n")).not.toMatch(/remove/);
  });
});

describe("the plan at a terminal", () => {
  const images = ["mp/test-adapter", "mp/second-adapter"].map((repository) => {
    const d = `sha256:${"b".repeat(64)}`;
    return {
      kind: "K",
      registry: "registry.example.com:5000",
      repository,
      digest: d,
      reference: `registry.example.com:5000/${repository}@${d}`,
    };
  });
  const three = [1, 2, 3].map((i) => ({
    ...proxy(`cp-east-0${i}.example.com`, 22),
    host: `10.20.30.10${i}`,
  }));
  const sshAuth = {
    agent: true,
    identities: [],
    defaultIdentities: ["/home/operator/.ssh/id_ed25519"],
    password: "asked" as const,
    home: "/home/operator",
  };

  it("one line per proxy (route, user, SSH credentials, what happens), the steps once: three proxies fit 120x40", () => {
    const pullJob = { ...job, images };
    const plan = planSideload(three, pullJob, "/home/operator/.ssh/known_hosts", sshAuth);
    const text = renderPlan("pull", plan, {
      outline: planOutline(pullJob, "~/.ssh/known_hosts"),
      references: images.map((i) => i.reference),
    });
    const lines = text.trimEnd().split("\n");
    expect(lines.length).toBeLessThanOrEqual(30);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(120);
    expect(lines).toContain(
      "  cp-east-01.example.com  root@10.20.30.101:22  agent, ~/.ssh/id_ed25519, password  pull 2 images where missing",
    );
    // Each reference once, not once per proxy and step.
    expect(text.split(images[0]!.reference)).toHaveLength(2);
    // The long form is still there for --verbose.
    const verbose = renderPlan("pull", plan, { outline: [], references: [], verbose: true });
    expect(verbose.split(images[0]!.reference).length).toBeGreaterThan(6);
  });

  it("names the key a proxy's inventory gives, the agent left out with IdentitiesOnly, and the password's source", () => {
    const [p] = planSideload(
      [{ ...proxy("cp1", 22), identity: "/keys/cp1", identitiesOnly: true }],
      { ...job, mode: "verify" },
      "/k",
      { ...sshAuth, password: "environment" },
    );
    expect(p?.auth).toBe("/keys/cp1 (+1 key), password (env)");
    expect(p?.action).toBe("check 1 image");
  });

  it("--dry-run --json keeps every field it had, and adds auth, action, references and the steps", () => {
    const plan = planSideload(three, job, "/k", sshAuth);
    const doc = JSON.parse(
      renderPlanJson("pull", [job.images[0]!.reference], plan, planOutline(job, "/k")),
    ) as {
      command: string;
      dryRun: boolean;
      references: string[];
      steps: string[];
      plan: Record<string, unknown>[];
    };
    expect(doc).toMatchObject({ command: "pull", dryRun: true, references: [job.images[0]!.reference] });
    expect(doc.steps.length).toBeGreaterThan(3);
    expect(Object.keys(doc.plan[0]!)).toEqual(
      expect.arrayContaining([
        "name",
        "host",
        "port",
        "user",
        "route",
        "steps",
        "auth",
        "action",
        "references",
      ]),
    );
    expect(doc.plan[0]).toMatchObject({
      name: "cp-east-01.example.com",
      host: "10.20.30.101",
      port: 22,
      user: "root",
    });
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
