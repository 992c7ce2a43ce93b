/**
 * `pull` and `verify` end to end: the built binary against the lab's real sshd, dockerd and
 * registry. Assertions are on exit status, the JSON document and the proxies' real state.
 */
import { readFile, readdir, rm, stat, writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseReport, runCli } from "./cli.js";
import {
  clearImages,
  engineRequestsToRegistry,
  labCtl,
  loadLab,
  proxyAddress,
  repoDigests,
  inventoryArgs,
  sshdLog,
  type Lab,
  registryEnv,
} from "./lab.js";

let lab: Lab;
let scratch: string;

function target(extra: string[] = []): string[] {
  return [...inventoryArgs(lab), ...extra];
}

/** Args for a run as the lab's password user against proxy I, with no key and no inventory. */
function asPasswordUser(command: "pull" | "verify", proxy: number): string[] {
  return [
    command,
    lab.paks.sample,
    "--proxy",
    `${lab.passwordUser}@${proxyAddress(lab, proxy)}`,
    "--known-hosts",
    lab.knownHosts,
    "--json",
  ];
}

async function clearAll(): Promise<void> {
  for (let p = 1; p <= lab.proxies; p++) await clearImages(lab, p);
}

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-e2e-"));
  await clearAll();
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("pull then verify on three proxies", () => {
  it("pulls and verifies the exact reference on every proxy", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...target(), "--json"], { env: registryEnv(lab) });
    const report = parseReport(run);
    expect(run.code, run.stderr).toBe(0);
    expect(report.command).toBe("pull");
    expect(report.references).toEqual([lab.sampleReference]);
    expect(report.proxies.map((p) => [p.name, p.status])).toEqual([
      ["proxy-1", "pulled"],
      ["proxy-2", "pulled"],
      ["proxy-3", "pulled"],
    ]);
    expect(report.summary).toEqual({ ok: 3, failed: 0, total: 3 });
    for (const row of report.proxies) {
      expect(row.transport).toBe("stream-local");
      expect(row.steps.map((s) => s.step)).toEqual([
        "connect",
        "engine",
        "present",
        "login",
        "pull",
        "verify",
      ]);
    }
    for (let p = 1; p <= lab.proxies; p++) expect(await repoDigests(lab, p)).toContain(lab.sampleReference);
  });

  it("a second run finds the image present on every proxy and pulls nothing", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...target(), "--json"], { env: registryEnv(lab) });
    const report = parseReport(run);
    expect(run.code).toBe(0);
    expect(report.proxies.map((p) => p.status)).toEqual(["present", "present", "present"]);
    for (const row of report.proxies) expect(row.steps.map((s) => s.step)).not.toContain("pull");
  });

  it("verify exits 0 when every proxy has the reference, with no credentials at all", async () => {
    const run = await runCli(["verify", lab.paks.sample, ...target()]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/3 ok, 0 not ok, 3 in all/);
  });

  it("verify exits 1 naming the proxy whose image was removed, and changes nothing", async () => {
    await clearImages(lab, 2);
    const run = await runCli(["verify", lab.paks.sample, ...target(), "--json"]);
    const report = parseReport(run);
    expect(run.code).toBe(1);
    expect(report.proxies.find((p) => p.name === "proxy-2")?.status).toBe("missing");
    expect(report.proxies.filter((p) => p.status === "present").map((p) => p.name)).toEqual([
      "proxy-1",
      "proxy-3",
    ]);
    expect(await repoDigests(lab, 2)).toEqual([]);
    const human = await runCli(["verify", lab.paks.sample, ...target()]);
    expect(human.stdout).toMatch(/MISSING\s+proxy-2/);
  });

  it("reads an Ansible INI inventory and --limit selects by group", async () => {
    const run = await runCli([
      "verify",
      lab.paks.sample,
      "--inventory",
      lab.ansibleInventory,
      "--known-hosts",
      lab.knownHosts,
      "--json",
    ]);
    expect(parseReport(run).proxies.map((p) => p.name)).toEqual(["proxy-1", "proxy-2", "proxy-3"]);
    const odd = await runCli(["verify", lab.paks.sample, ...target(["--limit", "odd", "--json"])]);
    expect(parseReport(odd).proxies.map((p) => p.name)).toEqual(["proxy-1", "proxy-3"]);
    expect(odd.code).toBe(0);
  });
});

describe("registry failures, as seen from the proxies", () => {
  beforeEach(clearAll);

  // --no-registry-check: the workstation's check would stop these before any proxy (tested in
  // credentials.test.ts); here the proxies' own engines must classify the same failures.
  it("a wrong password gives REGISTRY_UNAUTHORIZED on every proxy and pulls nothing", async () => {
    const run = await runCli(["pull", lab.paks.sample, ...target(), "--json", "--no-registry-check"], {
      env: registryEnv(lab, "not-the-password"),
    });
    const report = parseReport(run);
    expect(run.code).toBe(1);
    for (const row of report.proxies) {
      expect(row.status).toBe("failed");
      expect(row.failedStep).toBe("login");
      expect(row.error?.code).toBe("REGISTRY_UNAUTHORIZED");
      expect(row.error?.hint).toBeTruthy();
    }
    for (let p = 1; p <= lab.proxies; p++) expect(await repoDigests(lab, p)).toEqual([]);
  });

  it("a digest the registry lacks gives MANIFEST_UNKNOWN", async () => {
    const run = await runCli(
      ["pull", lab.paks.missing, ...target(["--limit", "proxy-1", "--json", "--no-registry-check"])],
      {
        env: registryEnv(lab),
      },
    );
    const report = parseReport(run);
    expect(run.code).toBe(1);
    expect(report.proxies[0]?.error?.code).toBe("MANIFEST_UNKNOWN");
    expect(report.proxies[0]?.failedStep).toBe("pull");
  });

  it("a registry whose CA the proxy does not trust gives REGISTRY_UNTRUSTED_CA; --registry-ca fixes it", async () => {
    // The untrusted pak names the registry by its second name, for which no certs.d entry exists.
    const run = await runCli(["pull", lab.paks.untrusted, ...target(["--limit", "proxy-1", "--json"])], {
      env: registryEnv(lab),
    });
    expect(run.code).toBe(1);
    const row = parseReport(run).proxies[0];
    expect(row?.error?.code).toBe("REGISTRY_UNTRUSTED_CA");
    expect(row?.error?.hint).toContain("--registry-ca");
    const certsD = `/etc/docker/certs.d/${lab.untrustedRegistry}`;
    try {
      const fixed = await runCli(
        [
          "pull",
          lab.paks.untrusted,
          ...target(["--limit", "proxy-1", "--json", "--registry-ca", join(lab.dir, "ca/ca.crt")]),
        ],
        { env: registryEnv(lab) },
      );
      expect(fixed.code, fixed.stderr).toBe(0);
      expect(parseReport(fixed).proxies[0]?.status).toBe("pulled");
      expect(await readFile(join(certsD, "ca.crt"), "utf8")).toBe(
        await readFile(join(lab.dir, "ca/ca.crt"), "utf8"),
      );
      expect(await readdir(certsD)).toEqual(["ca.crt"]);
    } finally {
      await rm(certsD, { recursive: true, force: true });
    }
  });

  it("a registry that is down gives REGISTRY_UNREACHABLE at login", async () => {
    await labCtl("stop-registry");
    try {
      const run = await runCli(["pull", lab.paks.sample, ...target(["--limit", "proxy-1", "--json"])], {
        env: registryEnv(lab),
      });
      expect(run.code).toBe(1);
      expect(parseReport(run).proxies[0]?.error?.code).toBe("REGISTRY_UNREACHABLE");
    } finally {
      await labCtl("start-registry");
    }
  });
});

describe("proxy failures", () => {
  beforeEach(clearAll);

  it("one proxy's sshd down: that proxy fails, the others are pulled, exit 1", async () => {
    await labCtl("stop-sshd", "3");
    try {
      const run = await runCli(["pull", lab.paks.sample, ...target(), "--json"], { env: registryEnv(lab) });
      const report = parseReport(run);
      expect(run.code).toBe(1);
      expect(report.proxies.map((p) => p.status)).toEqual(["pulled", "pulled", "failed"]);
      expect(report.proxies[2]?.error?.code).toBe("SSH_UNREACHABLE");
      expect(report.proxies[2]?.error?.message).toContain("proxy-3");
      expect(report.summary).toEqual({ ok: 2, failed: 1, total: 3 });
    } finally {
      await labCtl("start-sshd", "3");
    }
  });

  it("one proxy's engine down: ENGINE_UNREACHABLE for it", async () => {
    await labCtl("stop-engine", "2");
    try {
      const run = await runCli(["verify", lab.paks.sample, ...target(["--limit", "proxy-2", "--json"])]);
      expect(run.code).toBe(1);
      expect(parseReport(run).proxies[0]?.error?.code).toBe("ENGINE_UNREACHABLE");
      expect(parseReport(run).proxies[0]?.failedStep).toBe("engine");
    } finally {
      await labCtl("start-engine", "2");
    }
  });

  it("falls back to docker system dial-stdio when sshd forbids stream-local forwarding", async () => {
    await labCtl("forwarding", "3", "off");
    try {
      const run = await runCli(["pull", lab.paks.sample, ...target(["--limit", "proxy-3", "--json"])], {
        env: registryEnv(lab),
      });
      expect(run.code, run.stderr).toBe(0);
      const row = parseReport(run).proxies[0];
      expect(row?.status).toBe("pulled");
      expect(row?.transport).toBe("dial-stdio");
      expect(await repoDigests(lab, 3)).toContain(lab.sampleReference);
    } finally {
      await labCtl("forwarding", "3", "on");
    }
  });

  it("logs in by password (MP_SIDELOAD_SSH_PASSWORD) as a non-root user of the docker group", async () => {
    const run = await runCli(asPasswordUser("pull", 1), {
      env: { ...registryEnv(lab), MP_SIDELOAD_SSH_PASSWORD: lab.sshPassword },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(parseReport(run).proxies[0]?.status).toBe("pulled");
    expect(await sshdLog(lab, 1)).toMatch(
      new RegExp(`Accepted (password|keyboard-interactive/pam) for ${lab.passwordUser}`),
    );
  });

  it("a wrong SSH password gives SSH_AUTH_FAILED", async () => {
    const run = await runCli(asPasswordUser("verify", 1), {
      env: { MP_SIDELOAD_SSH_PASSWORD: "wrong-password" },
    });
    expect(run.code).toBe(1);
    expect(parseReport(run).proxies[0]?.error?.code).toBe("SSH_AUTH_FAILED");
  });
});

describe("host keys", () => {
  it("an unknown host is refused without --accept-new-host-keys, and recorded with it", async () => {
    const knownHosts = join(scratch, "known_hosts");
    await writeFile(knownHosts, "");
    const args = [
      "verify",
      lab.paks.sample,
      "--inventory",
      lab.inventory,
      "--limit",
      "proxy-1",
      "--known-hosts",
      knownHosts,
      "--json",
    ];
    const refused = await runCli(args);
    expect(refused.code).toBe(1);
    expect(parseReport(refused).proxies[0]?.error?.code).toBe("HOSTKEY_UNKNOWN");
    expect(parseReport(refused).proxies[0]?.error?.message).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect(await readFile(knownHosts, "utf8")).toBe("");

    const accepted = await runCli([...args, "--accept-new-host-keys"]);
    expect(accepted.code).toBe(1); // proxy-1's image was cleared by the tests above: missing
    expect(parseReport(accepted).proxies[0]?.status).toMatch(/present|missing/);
    const recorded = await readFile(knownHosts, "utf8");
    const expectedKey = (await readFile(join(lab.dir, "proxies/proxy-1/ssh_host_ed25519_key.pub"), "utf8"))
      .split(" ")
      .slice(0, 2)
      .join(" ");
    expect(recorded).toBe(`[127.0.0.1]:${lab.firstSshPort} ${expectedKey}\n`);
  });

  it("a changed host key is refused before any credential is sent", async () => {
    await labCtl("rekey", "2");
    try {
      const before = (await sshdLog(lab, 2)).length;
      const run = await runCli(asPasswordUser("pull", 2), {
        env: { ...registryEnv(lab), MP_SIDELOAD_SSH_PASSWORD: lab.sshPassword },
      });
      expect(run.code).toBe(1);
      const row = parseReport(run).proxies[0];
      expect(row?.error?.code).toBe("HOSTKEY_MISMATCH");
      expect(row?.failedStep).toBe("connect");
      expect(row?.error?.message).toContain("man-in-the-middle");
      // sshd saw no authentication attempt at all: no password, no key, no user name.
      const log = (await sshdLog(lab, 2)).slice(before);
      expect(log).not.toMatch(
        /Accepted|Failed|Postponed|authenticating user|Invalid user|password|userauth/i,
      );
      // The client ends the connection in key exchange: ssh2 either closes the socket or, when its
      // disconnect message gets out first, sshd logs that message instead.
      expect(log).toMatch(/kex: algorithm/);
      expect(log).toMatch(/Connection (closed|reset) by 127\.0\.0\.1|Received disconnect from 127\.0\.0\.1/);
    } finally {
      await labCtl("client-files");
    }
  });
});

describe("scripting contract", () => {
  it("--dry-run prints the plan and connects to nothing", async () => {
    const run = await runCli([
      "pull",
      lab.paks.sample,
      "--proxy",
      "127.0.0.1:1",
      "--proxy",
      "root@cp.example.com",
      "--dry-run",
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("nothing has been done");
    expect(run.stdout).toContain(`  ${lab.sampleReference}\n`);
    expect(run.stdout).toMatch(
      /^ {2}cp\.example\.com +root@cp\.example\.com:22 .* pull 1 image if missing$/m,
    );
  });

  it("missing registry credentials with no terminal: exit 2, and no proxy logged in or pulled", async () => {
    const before = await engineRequestsToRegistry(lab);
    const run = await runCli(["pull", lab.paks.sample, ...target(["--limit", "proxy-1"])]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^mp-sideload: CREDENTIALS_MISSING: .*\n {2}hint: .*MP_SIDELOAD_REGISTRY_USER/,
    );
    expect(run.stdout).toBe("");
    expect(await engineRequestsToRegistry(lab)).toBe(before);
  });

  it("--report writes the document and --only-failed re-runs just the failed proxies", async () => {
    await clearAll();
    const report = join(scratch, "report.json");
    await labCtl("stop-sshd", "2");
    try {
      const first = await runCli(["pull", lab.paks.sample, ...target(["--report", report])], {
        env: registryEnv(lab),
      });
      expect(first.code).toBe(1);
    } finally {
      await labCtl("start-sshd", "2");
    }
    const written = JSON.parse(await readFile(report, "utf8")) as {
      proxies: { name: string; status: string }[];
    };
    expect(written.proxies.map((p) => p.status)).toEqual(["pulled", "failed", "pulled"]);
    const again = await runCli(["pull", lab.paks.sample, ...target(["--only-failed", report, "--json"])], {
      env: registryEnv(lab),
    });
    expect(again.code, again.stderr).toBe(0);
    expect(parseReport(again).proxies.map((p) => [p.name, p.status])).toEqual([["proxy-2", "pulled"]]);
    expect((await stat(report)).mode & 0o777).toBe(0o644);
  });
});
