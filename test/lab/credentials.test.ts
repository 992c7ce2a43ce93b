/**
 * Registry credentials from where users keep them, and the registry checked from the
 * workstation (`check-registry`, and `pull` before any proxy): against the lab's real registry
 * (TLS, basic auth), its anonymous twin, its untrusted name, and real proxies.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseReport, runCli, type CliRun } from "./cli.js";
import {
  clearImages,
  engineRequestsToRegistry,
  labCtl,
  loadLab,
  repoDigests,
  inventoryArgs,
  type Lab,
  registryEnv,
} from "./lab.js";

let lab: Lab;
let scratch: string;
let bin: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-creds-"));
  bin = join(scratch, "bin");
  await import("node:fs/promises").then((fs) => fs.mkdir(bin));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

beforeEach(async () => {
  await clearImages(lab, 1);
});

/** A program on the test's PATH. */
async function program(name: string, body: string): Promise<string> {
  const file = join(bin, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

/** An environment whose HOME has no Docker config unless `config` is given, with the test programs on PATH. */
async function home(config?: unknown): Promise<Record<string, string>> {
  const folder = await mkdtemp(join(scratch, "home-"));
  if (config !== undefined) {
    await import("node:fs/promises").then((fs) => fs.mkdir(join(folder, ".docker")));
    await writeFile(join(folder, ".docker", "config.json"), JSON.stringify(config));
  }
  return { HOME: folder, PATH: `${bin}:${process.env.PATH ?? ""}` };
}

const b64 = (text: string) => Buffer.from(text).toString("base64");

/** Every form in which a password could leak. */
function secretForms(user: string, password: string): string[] {
  return [password, b64(password), b64(`${user}:${password}`)];
}

function expectNoSecret(run: CliRun, forms: string[]): void {
  for (const form of forms) {
    expect(run.stdout).not.toContain(form);
    expect(run.stderr).not.toContain(form);
  }
}

function pullProxy1(pak: string, extra: string[] = []): string[] {
  return ["pull", pak, ...inventoryArgs(lab), "--limit", "proxy-1", "--json", "--debug", ...extra];
}

describe("pull with credentials from each source", () => {
  it("the Docker config's auths", async () => {
    const env = await home({
      auths: { [lab.registry]: { auth: b64(`${lab.registryUser}:${lab.registryPassword}`) } },
    });
    const run = await runCli(pullProxy1(lab.paks.sample), { env });
    expect(run.code, run.stderr).toBe(0);
    const report = parseReport(run) as ReturnType<typeof parseReport> & {
      registries: { registry: string; credentialSource: string }[];
    };
    expect(report.registries).toEqual([
      { registry: lab.registry, credentialSource: "docker-config:auths", check: "ok" },
    ]);
    expect(await repoDigests(lab, 1)).toContain(lab.sampleReference);
    expectNoSecret(run, secretForms(lab.registryUser, lab.registryPassword));
  });

  it.each(["credHelpers", "credsStore"])(
    "the Docker config's %s, through a real docker-credential-<name> on PATH",
    async (kind) => {
      const log = join(scratch, `helper-${kind}.log`);
      await program(
        `docker-credential-lab${kind}`,
        `[ "$1" = get ] || exit 9\nread server\necho "$server" >> '${log}'\nprintf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$server" '${lab.registryUser}' '${lab.registryPassword}'`,
      );
      const config =
        kind === "credHelpers"
          ? { credHelpers: { [lab.registry]: `lab${kind}` } }
          : { credsStore: `lab${kind}` };
      const run = await runCli(pullProxy1(lab.paks.sample), { env: await home(config) });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(
        `debug: ${lab.registry}: credentials from docker-config:${kind}(lab${kind})`,
      );
      expect((await readFile(log, "utf8")).trim().split("\n")).toContain(lab.registry);
      expectNoSecret(run, secretForms(lab.registryUser, lab.registryPassword));
    },
  );

  it("a credentials helper program whose first answer is refused and whose --refresh answer works", async () => {
    const log = join(scratch, "refresh.log");
    const helper = await program(
      "lab-creds-helper",
      `echo "$*" >> '${log}'\nif [ "$3" = "--refresh" ]; then pw='${lab.registryPassword}'; else pw='stale-token-1234'; fi\nprintf '{"username":"%s","password":"%s"}' '${lab.registryUser}' "$pw"`,
    );
    const run = await runCli(pullProxy1(lab.paks.sample, ["--registry-credentials-helper", helper]), {
      env: await home(),
    });
    expect(run.code, run.stderr).toBe(0);
    expect((await readFile(log, "utf8")).trim().split("\n")).toEqual([
      `get ${lab.sampleReference}`,
      `get ${lab.sampleReference} --refresh`,
    ]);
    expectNoSecret(run, [...secretForms(lab.registryUser, lab.registryPassword), "stale-token-1234"]);
  });

  it("the same refresh when the refusal comes from a proxy's engine (--no-registry-check)", async () => {
    const log = join(scratch, "refresh-proxy.log");
    const helper = await program(
      "lab-creds-helper-2",
      `echo "$*" >> '${log}'\nif [ "$3" = "--refresh" ]; then pw='${lab.registryPassword}'; else pw='stale-token-5678'; fi\nprintf '{"username":"%s","password":"%s"}' '${lab.registryUser}' "$pw"`,
    );
    const run = await runCli(
      pullProxy1(lab.paks.sample, ["--registry-credentials-helper", helper, "--no-registry-check"]),
      { env: await home() },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(parseReport(run).proxies[0]?.status).toBe("pulled");
    expect((await readFile(log, "utf8")).trim().split("\n")).toHaveLength(2);
  });

  it("a token command, run without a shell, with --registry-user", async () => {
    const token = await program("lab-token", `printf '%s\\n' '${lab.registryPassword}'`);
    const run = await runCli(
      pullProxy1(lab.paks.sample, [
        "--registry-password-command",
        token,
        "--registry-user",
        lab.registryUser,
      ]),
      {
        env: await home(),
      },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`credentials from command`);
    expectNoSecret(run, secretForms(lab.registryUser, lab.registryPassword));
  });

  it("a credentials file", async () => {
    const file = join(scratch, "creds.toml");
    await writeFile(
      file,
      `[lab]\nregistry = "${lab.registry}"\nusername = "${lab.registryUser}"\npassword = "${lab.registryPassword}"\n`,
      { mode: 0o600 },
    );
    const run = await runCli(pullProxy1(lab.paks.sample, ["--registry-credentials", file]), {
      env: await home(),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`credentials from file(${file}:lab)`);
    expect(run.stderr).not.toContain("warning");
    expectNoSecret(run, secretForms(lab.registryUser, lab.registryPassword));
  });

  it("precedence: the environment beats a credentials file, which beats the Docker config", async () => {
    const file = join(scratch, "wrong.toml");
    await writeFile(
      file,
      `[lab]\nregistry = "${lab.registry}"\nusername = "${lab.registryUser}"\npassword = "file-is-wrong"\n`,
      { mode: 0o600 },
    );
    const env = {
      ...(await home({ auths: { [lab.registry]: { auth: b64(`${lab.registryUser}:docker-is-wrong`) } } })),
      ...registryEnv(lab),
    };
    const first = await runCli(pullProxy1(lab.paks.sample, ["--registry-credentials", file]), { env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("credentials from environment");
    // Without the environment the (wrong) file is used, not the (also wrong) Docker config; the
    // image is cleared so that the run needs credentials at all.
    await clearImages(lab, 1);
    const { MP_SIDELOAD_REGISTRY_USER: _u, MP_SIDELOAD_REGISTRY_PASSWORD: _p, ...withoutEnv } = env;
    const second = await runCli(pullProxy1(lab.paks.sample, ["--registry-credentials", file]), {
      env: withoutEnv,
    });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`credentials from file(${file}:lab)`);
    expect(second.stderr).toMatch(/REGISTRY_UNAUTHORIZED/);
  });

  it("two adapters in two registries, each with its own credentials", async () => {
    await clearImages(lab, 1);
    const file = join(scratch, "two.toml");
    const write = (secondPassword: string) =>
      writeFile(
        file,
        `[main]\nregistry = "${lab.registry}"\nusername = "${lab.registryUser}"\npassword = "${lab.registryPassword}"\n\n` +
          `[other]\nregistry = "${lab.untrustedRegistry}"\nusername = "${lab.registryUser2}"\npassword = "${secondPassword}"\n`,
        { mode: 0o600 },
      );
    const certsD = `/etc/docker/certs.d/${lab.untrustedRegistry}`;
    try {
      // The second user with the first user's password: refused there, and only there.
      await write(lab.registryPassword);
      const wrong = await runCli(
        pullProxy1(lab.paks.twoRegistries, ["--registry-credentials", file, "--registry-ca", lab.caFile]),
        { env: await home() },
      );
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(
        new RegExp(`REGISTRY_UNAUTHORIZED: .*${lab.untrustedRegistry.replace(/\./g, "\\.")}`),
      );
      await write(lab.registryPassword2);
      const run = await runCli(
        pullProxy1(lab.paks.twoRegistries, ["--registry-credentials", file, "--registry-ca", lab.caFile]),
        { env: await home() },
      );
      expect(run.code, run.stderr).toBe(0);
      const report = parseReport(run) as ReturnType<typeof parseReport> & {
        registries: { registry: string; credentialSource: string }[];
      };
      expect(report.registries.map((r) => [r.registry, r.credentialSource])).toEqual([
        [lab.registry, `file(${file}:main)`],
        [lab.untrustedRegistry, `file(${file}:other)`],
      ]);
      expect(report.proxies.map((p) => p.status)).toEqual(["pulled", "pulled"]);
      expectNoSecret(run, [
        ...secretForms(lab.registryUser, lab.registryPassword),
        ...secretForms(lab.registryUser2, lab.registryPassword2),
      ]);
    } finally {
      await rm(certsD, { recursive: true, force: true });
    }
  });

  it("a wrong password stops the pull before any proxy uses it: exit 2, no engine asked the registry, nothing pulled", async () => {
    await clearImages(lab, 1);
    const before = await engineRequestsToRegistry(lab);
    const run = await runCli(pullProxy1(lab.paks.sample), {
      env: {
        ...(await home()),
        ...registryEnv(lab, "not-the-password"),
      },
    });
    expect(run.code).toBe(2);
    // --json: the error is the one document on stdout.
    expect(JSON.parse(run.stdout)).toMatchObject({
      command: "pull",
      error: { code: "REGISTRY_UNAUTHORIZED" },
    });
    expect(run.stdout).not.toContain("not-the-password");
    expect(run.stderr).toMatch(
      /^mp-sideload: REGISTRY_UNAUTHORIZED: checked from this machine before any proxy logged in: /m,
    );
    expect(await engineRequestsToRegistry(lab)).toBe(before);
    expect(await repoDigests(lab, 1)).toEqual([]);
    expectNoSecret(run, secretForms(lab.registryUser, "not-the-password"));
  });

  it("a public image needs no credentials at all", async () => {
    const run = await runCli(pullProxy1(lab.paks.public), { env: await home() });
    expect(run.code, run.stderr).toBe(0);
    expect(parseReport(run).proxies[0]?.status).toBe("pulled");
    expect(run.stderr).toContain("credentials from anonymous");
  });
});

describe("check-registry", () => {
  interface CheckDocument {
    results: {
      reference: string;
      status: string;
      credentialSource: string;
      mediaType?: string;
      error?: { code: string; message: string };
    }[];
    summary: { ok: number; failed: number; total: number };
  }
  const check = async (pak: string, env: Record<string, string>, extra: string[] = []) => {
    const run = await runCli(["check-registry", pak, "--json", ...extra], {
      env: { ...(await home()), ...env },
    });
    return { run, doc: JSON.parse(run.stdout || "{}") as CheckDocument };
  };

  it("an anonymously pullable image: public, exit 0, no credentials asked", async () => {
    const { run, doc } = await check(lab.paks.public, {});
    expect(run.code, run.stderr).toBe(0);
    expect(doc.results[0]).toMatchObject({ status: "public", credentialSource: "anonymous" });
    const human = await runCli(["check-registry", lab.paks.public], { env: await home() });
    expect(human.stdout).toContain("no sideload needed");
  });

  it("good credentials: ok, with the manifest's media type", async () => {
    const { run, doc } = await check(lab.paks.sample, registryEnv(lab));
    expect(run.code, run.stderr).toBe(0);
    expect(doc.results[0]).toMatchObject({
      reference: lab.sampleReference,
      status: "ok",
      credentialSource: "environment",
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    });
  });

  it("bad credentials: REGISTRY_UNAUTHORIZED, exit 1, the password nowhere", async () => {
    const { run, doc } = await check(lab.paks.sample, registryEnv(lab, "bad-password-9876"));
    expect(run.code).toBe(1);
    expect(doc.results[0]?.error?.code).toBe("REGISTRY_UNAUTHORIZED");
    expectNoSecret(run, secretForms(lab.registryUser, "bad-password-9876"));
  });

  it("an unknown digest: MANIFEST_UNKNOWN", async () => {
    const { run, doc } = await check(lab.paks.missing, registryEnv(lab));
    expect(run.code).toBe(1);
    expect(doc.results[0]?.error?.code).toBe("MANIFEST_UNKNOWN");
  });

  it("an untrusted CA: REGISTRY_UNTRUSTED_CA; --registry-ca makes it ok", async () => {
    const { run, doc } = await check(lab.paks.untrusted, registryEnv(lab));
    expect(run.code).toBe(1);
    expect(doc.results[0]?.error?.code).toBe("REGISTRY_UNTRUSTED_CA");
    const fixed = await check(lab.paks.untrusted, registryEnv(lab), ["--registry-ca", lab.caFile]);
    expect(fixed.run.code, fixed.run.stderr).toBe(0);
    expect(fixed.doc.results[0]?.status).toBe("ok");
  });

  it("a stopped registry: REGISTRY_UNREACHABLE, connection refused", async () => {
    await labCtl("stop-registry");
    try {
      const { run, doc } = await check(lab.paks.sample, registryEnv(lab));
      expect(run.code).toBe(1);
      expect(doc.results[0]?.error?.code).toBe("REGISTRY_UNREACHABLE");
      expect(doc.results[0]?.error?.message).toContain("connection refused");
    } finally {
      await labCtl("start-registry");
    }
  });

  it("an image index without linux/amd64: PLATFORM_MISSING", async () => {
    // Push an OCI index naming only an arm64 image to the lab registry, by its API.
    const auth = `Basic ${b64(`${lab.registryUser}:${lab.registryPassword}`)}`;
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.docker.distribution.manifest.v2+json",
          digest: lab.sampleDigest,
          size: 1,
          platform: { os: "linux", architecture: "arm64" },
        },
      ],
    });
    const { createHash } = await import("node:crypto");
    const digest = `sha256:${createHash("sha256").update(index).digest("hex")}`;
    const https = await import("node:https");
    const ca = await readFile(lab.caFile, "utf8");
    const put = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        `https://${lab.registry}/v2/mp/test-adapter/manifests/${digest}`,
        {
          method: "PUT",
          ca,
          headers: { authorization: auth, "content-type": "application/vnd.oci.image.index.v1+json" },
        },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.once("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.once("error", reject);
      req.end(index);
    });
    expect(put.status, put.text).toBe(201);
    const pak = join(scratch, "arm64.pak");
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    await promisify(execFile)(
      "node",
      [
        "--import",
        "tsx",
        "scripts/make-pak.ts",
        "--out",
        pak,
        "--kind",
        "LabAdapter",
        "--registry",
        lab.registry,
        "--repository",
        "/mp/test-adapter",
        "--digest",
        digest,
      ],
      { cwd: join(import.meta.dirname, "../..") },
    );
    const { run, doc } = await check(pak, registryEnv(lab));
    expect(run.code).toBe(1);
    expect(doc.results[0]?.error?.code).toBe("PLATFORM_MISSING");
    expect(doc.results[0]?.error?.message).toContain("linux/arm64");
  });
});
