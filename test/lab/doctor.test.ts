/**
 * `doctor` against the lab: healthy, then with one proxy's engine stopped, another's sshd
 * stopped and the registry stopped; each failing check on the right proxy, and nothing changed.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { engineOf, labCtl, loadLab, inventoryArgs, type Lab, registryEnv } from "./lab.js";

let lab: Lab;

beforeAll(() => {
  lab = loadLab();
});

interface DoctorDocument {
  command: string;
  proxies: {
    name: string;
    verdict: string;
    checks: { check: string; verdict: string; code?: string; detail: string; hint?: string }[];
  }[];
  summary: { pass: number; warn: number; fail: number; total: number };
}

const doctor = async (extra: string[] = []) => {
  const run = await runCli(
    ["doctor", ...inventoryArgs(lab), "--pak", lab.paks.sample, "--json", "--timeout", "20", ...extra],
    { env: registryEnv(lab) },
  );
  return { run, doc: JSON.parse(run.stdout) as DoctorDocument };
};

/** What doctor must not change: each engine's images, certs.d, known_hosts, root's docker config. */
async function snapshot(): Promise<string> {
  const parts: string[] = [];
  for (let p = 1; p <= lab.proxies; p++) {
    const images = await engineOf(lab, p)
      .listImages()
      .catch(() => []);
    parts.push(JSON.stringify(images.map((i) => [i.Id, i.RepoDigests]).sort()));
  }
  const walk = async (dir: string): Promise<string[]> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const out: string[] = [];
    for (const e of entries) {
      const path = join(dir, e.name);
      const s = await stat(path);
      out.push(`${path} ${s.size} ${s.mtimeMs} ${s.ino}`);
      if (e.isDirectory()) out.push(...(await walk(path)));
    }
    return out;
  };
  // Only this lab's registries: another lab on this machine (its own ports) may write its own.
  const base = Number(/:(\d+)$/.exec(lab.registry)?.[1]);
  const otherLab = (line: string) => {
    const port = Number(/^\/etc\/docker\/certs\.d\/[^/ ]*:(\d+)[/ ]/.exec(line)?.[1] ?? base);
    return port < base || port > base + 99;
  };
  parts.push(...(await walk("/etc/docker/certs.d")).filter((line) => !otherLab(line)));
  parts.push(await readFile(lab.knownHosts, "utf8"));
  parts.push(...(await walk("/root/.docker")));
  return parts.join("\n");
}

describe("doctor", () => {
  it("on a healthy lab: every check passes, exit 0, with the engine, transport, disk, clock, image, registry and CA checks", async () => {
    const before = await snapshot();
    const { run, doc } = await doctor();
    expect(run.code, run.stderr).toBe(0);
    expect(doc.summary.fail).toBe(0);
    for (const proxy of doc.proxies) {
      expect(proxy.checks.map((c) => c.check.split(" ")[0])).toEqual([
        "ssh",
        "engine",
        "transport",
        "disk",
        "clock",
        "image",
        "registry",
        "ca",
      ]);
      expect(proxy.checks.find((c) => c.check === "ssh")?.detail).toContain("authenticated by publickey");
      expect(proxy.checks.find((c) => c.check === "engine")?.detail).toMatch(
        /Docker .* \(API 1\.\d+\) over stream-local/,
      );
      expect(proxy.checks.find((c) => c.check.startsWith("registry"))?.detail).toContain(
        "credentials accepted",
      );
      expect(proxy.checks.find((c) => c.check === "disk")?.detail).toMatch(
        /GiB free under .* against the image's/,
      );
    }
    expect(await snapshot()).toBe(before);
  });

  it("names each failing check on the right proxy: engine stopped on 2, sshd stopped on 3, registry stopped; exit 1; nothing changed", async () => {
    await labCtl("stop-engine", "2");
    await labCtl("stop-sshd", "3");
    await labCtl("stop-registry");
    let result;
    let before = "";
    let after = "";
    try {
      before = await snapshot();
      result = await doctor();
      after = await snapshot(); // while the faults are still in place, as before
    } finally {
      await labCtl("start-registry");
      await labCtl("start-sshd", "3");
      await labCtl("start-engine", "2");
    }
    const { run, doc } = result;
    expect(run.code, run.stderr).toBe(1);
    const failing = (name: string) =>
      doc.proxies
        .find((p) => p.name === name)
        ?.checks.filter((c) => c.verdict === "fail")
        .map((c) => [c.check.split(" ")[0], c.code]);
    expect(failing("proxy-1")).toEqual([["registry", "REGISTRY_UNREACHABLE"]]);
    expect(failing("proxy-2")).toEqual([["engine", "ENGINE_UNREACHABLE"]]);
    expect(failing("proxy-3")).toEqual([["ssh", "SSH_UNREACHABLE"]]);
    expect(after).toBe(before);

    const human = await runCli(["doctor", ...inventoryArgs(lab), "--limit", "proxy-1"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ok {4}proxy-1 {2}\d+ checks pass$/m);
  });

  it("warns when the SSH user's DOCKER_HOST names another engine than the default socket it uses", async () => {
    await labCtl("docker-host", "2", "unix:///run/elsewhere.sock");
    try {
      const { run, doc } = await doctor(["--limit", "proxy-2"]);
      expect(run.code, run.stderr).toBe(0);
      const engine = doc.proxies[0]?.checks.find((c) => c.check === "engine");
      expect(engine?.verdict).toBe("warn");
      expect(engine?.detail).toContain("at /var/run/docker.sock (the default)");
      expect(engine?.detail).toContain("DOCKER_HOST names another engine: unix:///run/elsewhere.sock");
      expect(engine?.hint).toContain("dockerSocket");
    } finally {
      await labCtl("docker-host", "2", "none");
    }
    const { doc } = await doctor(["--limit", "proxy-2"]);
    expect(doc.proxies[0]?.checks.find((c) => c.check === "engine")?.verdict).toBe("pass");
  });

  it("compares each proxy's CA with --registry-ca", async () => {
    const { run, doc } = await doctor(["--registry-ca", lab.caFile, "--limit", "proxy-1"]);
    expect(run.code, run.stderr).toBe(0);
    expect(doc.proxies[0]?.checks.find((c) => c.check.startsWith("ca "))?.detail).toContain(
      "matches --registry-ca",
    );
    const other = await doctor(["--registry-ca", join(lab.dir, "registry/server.crt"), "--limit", "proxy-1"]);
    const ca = other.doc.proxies[0]?.checks.find((c) => c.check.startsWith("ca "));
    expect(ca).toMatchObject({ verdict: "warn", hint: expect.stringContaining("--registry-ca") as unknown });
  });
});
