/**
 * Faults of the real world (issue #19) against the lab: Docker Hub references pulled through
 * a real engine's registry mirror, hostile local files (devices, FIFOs, symbolic links, an
 * empty HOME), and ssh configurations the tool must not misread.
 */
import { spawn, execFileSync } from "node:child_process";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport, runCli, type CliRun } from "./cli.js";
import {
  clearImages,
  engineOf,
  labCtl,
  loadLab,
  proxyAddress,
  pullDirect,
  registryEnv,
  bin,
  type Lab,
} from "./lab.js";

let lab: Lab;
let scratch: string;

/** proxy-1 alone, as root with the lab's key. */
function proxyOne(extra: string[] = []): string[] {
  return [
    "--proxy",
    `root@${proxyAddress(lab, 1)}`,
    "--identity",
    lab.identity,
    "--known-hosts",
    lab.knownHosts,
    ...extra,
  ];
}

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-faults-"));
  // A lab whose engines started before the mirror was part of it: restart proxy-1's engine.
  const info = (await engineOf(lab, 1).info()) as { RegistryConfig?: { Mirrors?: string[] } };
  if (!(info.RegistryConfig?.Mirrors ?? []).some((m) => m.includes(lab.publicRegistry))) {
    await labCtl("stop-engine", "1");
    await labCtl("start-engine", "1");
  }
  await clearImages(lab, 1);
});

afterAll(async () => {
  await clearImages(lab, 1);
  await rm(scratch, { recursive: true, force: true });
});

describe("Docker Hub references (through the engine's registry mirror)", () => {
  const pak = (name: string) => join(lab.dir, "paks", `${name}.pak`);

  it.each([
    ["hub", "docker.io/mplab/hub-adapter"],
    ["hub-official", "docker.io/mp-hub-adapter"],
    ["hub-index", "index.docker.io/mplab/hub-adapter"],
  ])("%s.pak (%s): an image the engine pulled through its mirror is present", async (name, repository) => {
    await clearImages(lab, 1);
    await pullDirect(engineOf(lab, 1), `${repository}@${lab.sampleDigest}`);
    const verified = await runCli(["verify", pak(name), ...proxyOne(["--json"])]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(parseReport(verified).proxies[0]?.status).toBe("present");
    // pull finds it present (credentials given: the workstation cannot see Docker Hub here).
    const pulled = await runCli(["pull", pak(name), ...proxyOne(["--json"])], { env: registryEnv(lab) });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(parseReport(pulled).proxies[0]?.status).toBe("present");
  });

  // A pull from an empty engine also needs, outside this branch's files: verify (sideload-proxy.ts)
  // comparing with sameImageReference, and an anonymous pull when the workstation cannot reach
  // the registry and no source has credentials (sideload-command.ts settleRegistries).
  it.each([
    ["hub", "docker.io/mplab/hub-adapter"],
    ["hub-official", "docker.io/mp-hub-adapter"],
    ["hub-index", "index.docker.io/mplab/hub-adapter"],
  ])("%s.pak (%s): pull, verify, then present on a re-run", async (name, repository) => {
    await clearImages(lab, 1);
    const args = ["pull", pak(name), ...proxyOne(["--json"])];
    const first = await runCli(args);
    const report = parseReport(first);
    expect(first.code, first.stderr).toBe(0);
    expect(report.references).toEqual([`${repository}@${lab.sampleDigest}`]);
    expect(report.proxies[0]?.status).toBe("pulled");
    const again = parseReport(await runCli(args));
    expect(again.proxies[0]?.status).toBe("present");
    const verified = await runCli(["verify", pak(name), ...proxyOne(["--json"])]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(parseReport(verified).proxies[0]?.status).toBe("present");
  });

  it("registry.hub.docker.com stays distinct: the engine does not find a docker.io image under it", async () => {
    await clearImages(lab, 1);
    await pullDirect(engineOf(lab, 1), `docker.io/mplab/hub-adapter@${lab.sampleDigest}`);
    // The engine itself: the same repository and digest under registry.hub.docker.com is no such image.
    const engine = engineOf(lab, 1);
    await expect(
      engine.getImage(`registry.hub.docker.com/mplab/hub-adapter@${lab.sampleDigest}`).inspect(),
    ).rejects.toMatchObject({ statusCode: 404 });
    const verified = await runCli(["verify", pak("hub-legacy"), ...proxyOne(["--json"])]);
    expect(verified.code).toBe(1);
    expect(parseReport(verified).proxies[0]?.status).toBe("missing");
  });
});

/** The binary run in `cwd` with exactly `env` (and PATH, CI): for HOME="" and a planted folder. */
function runIn(cwd: string, args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(bin, args, {
      cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CI: "true", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe("hostile local files", () => {
  let fifo: string;
  beforeAll(() => {
    fifo = join(scratch, "identity-fifo");
    execFileSync("mkfifo", [fifo]);
  });
  const withIdentity = (identity: string) => [
    "--proxy",
    `root@${proxyAddress(lab, 1)}`,
    "--identity",
    identity,
    "--known-hosts",
    lab.knownHosts,
    "--json",
  ];

  it.each(["/dev/zero", "FIFO"])("doctor: %s as --identity exits 2 at once", async (what) => {
    const run = await runCli(["doctor", ...withIdentity(what === "FIFO" ? fifo : what)]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("FILE_UNREADABLE");
    expect(run.stderr).toMatch(/is (a device|a named pipe), not a regular file/);
    expect(run.ms).toBeLessThan(5000);
  });

  // Needs the lead's call of checkIdentityFiles (src/ssh/connect.ts) in pull/verify before the batch.
  it.each(["/dev/zero", "FIFO"])("pull: %s as --identity exits 2 at once", async (what) => {
    const run = await runCli(["pull", lab.paks.sample, ...withIdentity(what === "FIFO" ? fifo : what)], {
      env: registryEnv(lab),
    });
    expect(run.stderr + run.stdout).toContain("FILE_UNREADABLE");
    expect(run.ms).toBeLessThan(5000);
    expect(run.code, run.stderr).toBe(2);
  });

  it("doctor: a missing --identity is FILE_NOT_FOUND before connecting", async () => {
    const run = await runCli(["doctor", ...withIdentity(join(scratch, "no-such-key"))]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("FILE_NOT_FOUND");
    expect(run.stderr).toContain("no-such-key");
  });

  it("doctor --report through a planted symbolic link: refused before connecting, the target untouched", async () => {
    const victim = join(scratch, "victim");
    await writeFile(victim, "precious\n");
    const link = join(scratch, "doctor-report.json");
    await symlink(victim, link);
    const run = await runCli(["doctor", ...proxyOne(["--json", "--report", link])]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("FILE_NOT_WRITABLE");
    expect(await readFile(victim, "utf8")).toBe("precious\n");
    expect(await readlink(link)).toBe(victim);
  });

  // Needs the lead's checkWritableOutput / writeFileAtomic (src/files.ts) in sideload-command.ts.
  it("pull --report through a planted symbolic link leaves the link's target untouched", async () => {
    const victim = join(scratch, "victim-2");
    await writeFile(victim, "precious\n");
    const link = join(scratch, "pull-report.json");
    await symlink(victim, link);
    const run = await runCli(["pull", lab.paks.sample, ...proxyOne(["--json", "--report", link])], {
      env: registryEnv(lab),
    });
    expect(run.code, run.stderr).toBe(2);
    expect(await readFile(victim, "utf8")).toBe("precious\n");
  });

  // Needs the lead's known_hosts default from defaultKnownHostsFile (src/ssh/connect.ts) in targets.ts.
  it('HOME="": a known_hosts planted in the working folder is not trusted', async () => {
    const cwd = join(scratch, "planted");
    await mkdir(join(cwd, ".ssh"), { recursive: true });
    const line = (await readFile(lab.knownHosts, "utf8")).split("\n")[0] ?? "";
    await writeFile(join(cwd, ".ssh", "known_hosts"), `${line}\n`);
    const run = await runIn(
      cwd,
      [
        "verify",
        lab.paks.sample,
        "--proxy",
        `root@${proxyAddress(lab, 1)}`,
        "--identity",
        lab.identity,
        "--json",
      ],
      { HOME: "" },
    );
    expect(run.code, run.stderr).toBe(1);
    // The key is judged against the password database's home (root's own known_hosts, which may
    // hold an older key of this address), never against the planted file that would accept it.
    expect(parseReport(run).proxies[0]?.error?.code).toMatch(/^HOSTKEY_(UNKNOWN|MISMATCH)$/);
    expect(run.stderr + run.stdout).not.toContain(join(cwd, ".ssh", "known_hosts"));
  });
});

describe("ssh configurations the tool must not misread", () => {
  it("ProxyCommand for a proxy is refused with exit 2 before any connection (never ignored)", async () => {
    const config = join(scratch, "proxycommand.conf");
    await writeFile(config, `Host 127.0.0.1\n  ProxyCommand ssh -W %h:%p bastion.example\n`);
    const run = await runCli(["verify", lab.paks.sample, ...proxyOne(["--ssh-config", config, "--json"])]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("SSH_CONFIG_INVALID");
    expect(run.stderr).toContain("does not run ProxyCommand");
  });

  it("a device as --ssh-config is 'not a regular file', a 5 MB line is named by its number", async () => {
    const device = await runCli(["verify", lab.paks.sample, ...proxyOne(["--ssh-config", "/dev/zero"])]);
    expect(device.code).toBe(2);
    expect(device.stderr).toContain("is a device, not a regular file");
    const config = join(scratch, "long.conf");
    await writeFile(config, `Host *\n  User ${"u".repeat(5 * 1024 * 1024)}\n`);
    const long = await runCli(["verify", lab.paks.sample, ...proxyOne(["--ssh-config", config])]);
    expect(long.code).toBe(2);
    expect(long.stderr).toContain("long.conf:2: the line is");
    expect(long.ms).toBeLessThan(5000);
  });
});

/**
 * The lab's registry behind a relay that answers its first two manifest requests 429 with
 * `Retry-After: 2` and, as Docker Hub does, a JSON error body with the TOOMANYREQUESTS code.
 */
async function rateLimitingRelay(): Promise<{
  registry: string;
  limited: () => number;
  reset: () => void;
  close: () => void;
}> {
  const key = await readFile(join(lab.dir, "registry", "server.key"));
  const cert = await readFile(join(lab.dir, "registry", "server.crt"));
  const ca = await readFile(lab.caFile);
  let limited = 0;
  const relay = https.createServer({ key, cert }, (req, res) => {
    if (req.url?.includes("/manifests/") && limited < 2) {
      limited++;
      return void res
        .writeHead(429, { "retry-after": "2", "content-type": "application/json" })
        .end('{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}');
    }
    const upstream = https.request(
      `https://${lab.registry}${req.url ?? "/"}`,
      { method: req.method, headers: { ...req.headers, host: lab.registry }, ca },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => relay.listen(0, "::1", resolve));
  return {
    registry: `${lab.registry.split(":")[0] ?? ""}:${(relay.address() as AddressInfo).port}`,
    limited: () => limited,
    reset: () => (limited = 0),
    close: () => relay.close(),
  };
}

/** A pak of the lab's sample image under `registry`. */
function pakFor(registry: string, name: string): string {
  const pak = join(scratch, name);
  execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/make-pak.ts",
      ...["--out", pak, "--kind", "LabAdapter", "--registry", registry],
      ...["--repository", "/mp/test-adapter", "--digest", lab.sampleDigest],
    ],
    { cwd: join(import.meta.dirname, "../..") },
  );
  return pak;
}

describe("a rate-limiting registry, checked from the workstation", () => {
  let relay: Awaited<ReturnType<typeof rateLimitingRelay>>;
  beforeAll(async () => {
    relay = await rateLimitingRelay();
  });
  afterAll(() => relay.close());

  it("429 with Retry-After: 2 twice: the check waits, says so, and succeeds on the third try", async () => {
    const registry = relay.registry;
    const pak = pakFor(registry, "limited.pak");
    relay.reset();
    const run = await runCli(["check-registry", pak, "--registry-ca", lab.caFile, "--json"], {
      env: registryEnv(lab),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(relay.limited()).toBe(2);
    expect(run.stderr).toContain(`${registry}: rate-limited (HTTP 429)`);
    expect(run.stderr).toContain("waiting 2 s (Retry-After) before try 2");
    expect(run.stderr).toContain("waiting 2 s (Retry-After) before try 3");
    expect(run.ms).toBeGreaterThanOrEqual(4000);
    expect(run.stdout).toContain('"waitedMs": 4000');
    expect(run.stderr + run.stdout).not.toContain(lab.registryPassword);
  });
});

describe("a rate-limiting registry, met by a proxy's engine", () => {
  let relay: Awaited<ReturnType<typeof rateLimitingRelay>>;
  beforeAll(async () => {
    relay = await rateLimitingRelay();
  });
  afterAll(async () => {
    relay.close();
    await rm(`/etc/docker/certs.d/${relay.registry}`, { recursive: true, force: true });
  });

  it("429 twice at the proxy's pull: waited out and re-issued until pulled", async () => {
    await clearImages(lab, 1);
    const pak = pakFor(relay.registry, "limited-pull.pak");
    relay.reset();
    // --no-registry-check: the proxy's engine, not this machine's check, meets the 429s.
    const run = await runCli(
      [
        "pull",
        pak,
        ...[
          "--proxy",
          `root@${proxyAddress(lab, 1)}`,
          "--identity",
          lab.identity,
          "--known-hosts",
          lab.knownHosts,
        ],
        ...["--registry-ca", lab.caFile, "--no-registry-check", "--json"],
      ],
      { env: registryEnv(lab) },
    );
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    expect(relay.limited()).toBe(2);
    const row = parseReport(run).proxies[0];
    expect(row?.status).toBe("pulled");
    // The engine may spend both 429s in one attempt (a HEAD, then a GET): at least one re-issue.
    expect(row?.attempts ?? 1).toBeGreaterThanOrEqual(2);
    expect(run.stderr).toMatch(/REGISTRY_RATE_LIMITED; re-issuing the pull in 5\.0s/);
  });
});
