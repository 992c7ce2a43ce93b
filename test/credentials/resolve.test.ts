import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CredentialResolver, type CredentialOptions } from "../../src/credentials/resolve.js";
import { parseCredentialsFile } from "../../src/credentials/credentials-file.js";
import { splitCommand } from "../../src/credentials/run-program.js";
import { clearSecrets, redact, registerSecret } from "../../src/redact.js";

const none = () => Promise.resolve("");
let dir: string;

afterEach(clearSecrets);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-creds-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function resolver(options: Partial<CredentialOptions>) {
  return new CredentialResolver({ passwordStdin: false, env: {}, readStdin: none, ...options });
}

/** A script on disk; returns its path. */
async function script(name: string, body: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

/** A DOCKER_CONFIG folder holding `config`; a bin folder for helpers goes on PATH. */
async function dockerConfig(config: unknown): Promise<NodeJS.ProcessEnv> {
  const folder = await mkdtemp(join(dir, "docker-"));
  await writeFile(join(folder, "config.json"), JSON.stringify(config));
  return { DOCKER_CONFIG: folder, PATH: `${dir}:${process.env.PATH ?? ""}` };
}

describe("explicit sources", () => {
  it("takes the password from stdin (one trailing newline dropped) before the environment", async () => {
    const found = await resolver({
      user: "u",
      passwordStdin: true,
      env: { MP_SIDELOAD_REGISTRY_PASSWORD: "env-pw" },
      readStdin: () => Promise.resolve("s3cret pw\n"),
    }).resolve("r", "r/x@sha256:0");
    expect(found).toMatchObject({
      source: "--registry-password-stdin",
      auth: { username: "u", password: "s3cret pw", serveraddress: "r" },
    });
  });

  it("reads stdin once for every registry", async () => {
    let reads = 0;
    const r = resolver({
      user: "u",
      passwordStdin: true,
      readStdin: () => (reads++, Promise.resolve("pw-1234")),
    });
    await r.resolve("a", "a/x@sha256:0");
    await r.resolve("b", "b/x@sha256:0");
    expect(reads).toBe(1);
  });

  it("takes user and password from the environment; --registry-user beats the environment's user", async () => {
    const env = { MP_SIDELOAD_REGISTRY_USER: "eu", MP_SIDELOAD_REGISTRY_PASSWORD: "epw1" };
    expect((await resolver({ env }).resolve("r", "i")).auth).toMatchObject({
      username: "eu",
      password: "epw1",
    });
    expect((await resolver({ env, user: "flag" }).resolve("r", "i")).auth.username).toBe("flag");
  });

  it("asks for what is missing when there is a terminal", async () => {
    const asked: string[] = [];
    const found = await resolver({
      ask: {
        user: (registry) => (asked.push(`user at ${registry}`), Promise.resolve("au")),
        password: (registry, u) => (asked.push(`password of ${u} at ${registry}`), Promise.resolve("apw1")),
      },
      env: { DOCKER_CONFIG: join(dir, "absent") },
    }).resolve("r", "i");
    expect(found).toMatchObject({ source: "prompt", auth: { username: "au", password: "apw1" } });
    expect(asked).toEqual(["user at r", "password of au at r"]);
  });

  it("fails with CREDENTIALS_MISSING and exit 2 without a terminal, naming the registry and the options", async () => {
    await expect(
      resolver({ env: { DOCKER_CONFIG: join(dir, "absent") } }).resolve("harbor:8443", "i"),
    ).rejects.toMatchObject({
      code: "CREDENTIALS_MISSING",
      exitStatus: 2,
      message: "no credentials for registry harbor:8443, and no terminal to ask in",
      hint: expect.stringMatching(/MP_SIDELOAD_REGISTRY_USER.*--registry-credentials FILE/) as unknown,
    });
  });

  it("refuses an empty stdin", async () => {
    await expect(resolver({ user: "u", passwordStdin: true }).resolve("r", "i")).rejects.toMatchObject({
      code: "CREDENTIALS_MISSING",
    });
  });

  it("registers the password so that output is redacted", async () => {
    await resolver({ user: "u", passwordStdin: true, readStdin: () => Promise.resolve("hunter22") }).resolve(
      "r",
      "i",
    );
    expect(redact("auth hunter22 failed")).toBe("auth *** failed");
  });
});

describe("the Docker config", () => {
  const b64 = (text: string) => Buffer.from(text).toString("base64");

  it.each([
    [
      "auths with base64 auth",
      { auths: { "harbor:8443": { auth: b64("robot:pw:with:colons") } } },
      "harbor:8443",
      { username: "robot", password: "pw:with:colons" },
    ],
    [
      "auths with username and password",
      { auths: { "https://harbor:8443/v2/": { username: "u2", password: "p2-secret" } } },
      "harbor:8443",
      { username: "u2", password: "p2-secret" },
    ],
    [
      "Docker Hub under its v1 URL, for docker.io",
      { auths: { "https://index.docker.io/v1/": { auth: b64("hubuser:hubpw1") } } },
      "docker.io",
      { username: "hubuser" },
    ],
    [
      "Docker Hub, for registry-1.docker.io",
      { auths: { "https://index.docker.io/v1/": { auth: b64("hubuser:hubpw1") } } },
      "registry-1.docker.io",
      { username: "hubuser" },
    ],
    [
      "an identity token",
      { auths: { "harbor:8443": { identitytoken: "refresh-token-xyz" } } },
      "harbor:8443",
      { identitytoken: "refresh-token-xyz" },
    ],
  ])("reads %s", async (_what, config, registry, expected) => {
    const found = await resolver({ env: await dockerConfig(config) }).resolve(registry, "i");
    expect(found.source).toBe("docker-config:auths");
    expect(found.auth).toMatchObject({ ...expected, serveraddress: registry });
  });

  it("asks credHelpers before credsStore before auths, through docker-credential-<name> get", async () => {
    await script(
      "docker-credential-unit-helper",
      'read server; echo "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"helper-user\\",\\"Secret\\":\\"helper-secret-$server\\"}"',
    );
    await script(
      "docker-credential-unit-store",
      'read server; echo "{\\"Username\\":\\"store-user\\",\\"Secret\\":\\"store-secret\\"}"',
    );
    const env = await dockerConfig({
      credHelpers: { "harbor:8443": "unit-helper" },
      credsStore: "unit-store",
      auths: { "harbor:8443": { auth: b64("file:pw") }, "other:5000": { auth: b64("file:pw") } },
    });
    const r = resolver({ env });
    expect(await r.resolve("harbor:8443", "i")).toMatchObject({
      source: "docker-config:credHelpers(unit-helper)",
      auth: { username: "helper-user", password: "helper-secret-harbor:8443" },
    });
    expect(await r.resolve("other:5000", "i")).toMatchObject({
      source: "docker-config:credsStore(unit-store)",
      auth: { username: "store-user" },
    });
  });

  it("falls back to auths when the store has nothing, and names a broken helper's stderr with secrets masked", async () => {
    await script("docker-credential-unit-empty", 'echo "credentials not found in native keychain"; exit 1');
    const env = await dockerConfig({
      credsStore: "unit-empty",
      auths: { "harbor:8443": { auth: b64("file:pw-1234") } },
    });
    expect((await resolver({ env }).resolve("harbor:8443", "i")).auth.username).toBe("file");
    registerSecret("leaked-pw");
    await script("docker-credential-unit-broken", 'echo "cannot unlock keyring for leaked-pw" >&2; exit 3');
    const broken = await dockerConfig({ credsStore: "unit-broken" });
    const error = await resolver({ env: broken })
      .resolve("harbor:8443", "i")
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "CREDENTIALS_MISSING" });
    expect((error as Error).message).toMatch(
      /docker-credential-unit-broken get harbor:8443 failed \(exit 3\): cannot unlock keyring for \*\*\*/,
    );
  });

  it("takes Username <token> as an identity token", async () => {
    await script(
      "docker-credential-unit-token",
      'echo "{\\"Username\\":\\"<token>\\",\\"Secret\\":\\"oauth-refresh\\"}"',
    );
    const env = await dockerConfig({ credHelpers: { "harbor:8443": "unit-token" } });
    expect((await resolver({ env }).resolve("harbor:8443", "i")).auth).toMatchObject({
      identitytoken: "oauth-refresh",
      username: "",
    });
  });
});

describe("programs and files", () => {
  it("a helper program: PATH get IMAGE, then --refresh", async () => {
    const helper = await script(
      "helper",
      'if [ "$3" = "--refresh" ]; then p=fresh-pw; else p=stale-pw; fi; echo "{\\"username\\":\\"h-$2\\",\\"password\\":\\"$p\\"}"',
    );
    const found = await resolver({ helper }).resolve("r:1", "r:1/x@sha256:ab");
    expect(found).toMatchObject({
      source: `helper(${helper})`,
      auth: { username: "h-r:1/x@sha256:ab", password: "stale-pw" },
    });
    expect(await found.refresh?.()).toMatchObject({ password: "fresh-pw" });
  });

  it("a token command, run without a shell, needs the user and shows a failing command's stderr", async () => {
    const token = await script("token", 'echo "  tok-$1-$2  "');
    const found = await resolver({ passwordCommand: `${token} 'a b' c`, user: "AWS" }).resolve("r", "i");
    expect(found).toMatchObject({ source: "command", auth: { username: "AWS", password: "tok-a b-c" } });
    await expect(resolver({ passwordCommand: token }).resolve("r", "i")).rejects.toMatchObject({
      code: "USAGE",
    });
    const failing = await script("failing", 'echo "ExpiredToken: run aws sso login" >&2; exit 255');
    await expect(resolver({ passwordCommand: failing, user: "AWS" }).resolve("r", "i")).rejects.toThrow(
      /exited 255: ExpiredToken: run aws sso login/,
    );
  });

  it("a credentials file: the table for the registry, password or passwordCommand; warns when others may read it", async () => {
    const token = await script("file-token", "echo from-command");
    const file = join(dir, "creds.toml");
    await writeFile(
      file,
      `[harbor]\nregistry = "harbor:8443"\nusername = "robot$ci"\npassword = "file-pw"\n\n[ecr]\nregistry = "1.dkr.ecr.eu-west-1.amazonaws.com"\nusername = "AWS"\npasswordCommand = "${token}"\n`,
    );
    await chmod(file, 0o644);
    const warnings: string[] = [];
    const r = resolver({
      credentialsFile: file,
      warn: (m) => warnings.push(m),
      env: { DOCKER_CONFIG: join(dir, "absent") },
    });
    expect(await r.resolve("harbor:8443", "i")).toMatchObject({
      source: `file(${file}:harbor)`,
      auth: { username: "robot$ci", password: "file-pw" },
    });
    expect((await r.resolve("1.dkr.ecr.eu-west-1.amazonaws.com", "i")).auth.password).toBe("from-command");
    expect(warnings).toEqual([expect.stringMatching(/can be read by others than its owner \(mode 644\)/)]);
    await expect(r.resolve("elsewhere:5000", "i")).rejects.toMatchObject({ code: "CREDENTIALS_MISSING" });
  });

  it.each([
    ['[a]\nregistry = "r"\n', /needs registry and username/],
    ['[a]\nregistry = "r"\nusername = "u"\n', /either password or passwordCommand/],
    [
      '[a]\nregistry = "r"\nusername = "u"\npassword = "p"\npasswordCommand = "c"\n',
      /either password or passwordCommand/,
    ],
    ['[a]\nregistry = "r"\nusername = "u"\npasword = "p"\n', /unknown key "pasword"/],
    [
      '[a]\nregistry = "r"\nusername = "u"\npassword = "p"\n[b]\nregistry = "r"\nusername = "v"\npassword = "q"\n',
      /has a table already/,
    ],
    ["[a\n", /line 1: not valid TOML/],
  ])("refuses a credentials file %j", (text, message) => {
    expect(() => parseCredentialsFile(text, "c.toml")).toThrow(message);
  });

  it("precedence: environment > helper > command > file > Docker config", async () => {
    const helper = await script("p-helper", 'echo "{\\"username\\":\\"h\\",\\"password\\":\\"hp-1234\\"}"');
    const token = await script("p-token", "echo cmd-pw");
    const file = join(dir, "p.toml");
    await writeFile(file, '[r]\nregistry = "r:1"\nusername = "f"\npassword = "fp-1234"\n');
    const docker = await dockerConfig({
      auths: { "r:1": { auth: Buffer.from("d:dp-1234").toString("base64") } },
    });
    const all = {
      helper,
      passwordCommand: token,
      user: "cu",
      credentialsFile: file,
      env: { ...docker, MP_SIDELOAD_REGISTRY_PASSWORD: "envpw1" },
    };
    const source = async (o: Partial<CredentialOptions>) => (await resolver(o).resolve("r:1", "i")).source;
    expect(await source(all)).toBe("environment");
    expect(await source({ ...all, env: docker })).toBe(`helper(${helper})`);
    expect(await source({ ...all, env: docker, helper: undefined })).toBe("command");
    expect(await source({ ...all, env: docker, helper: undefined, passwordCommand: undefined })).toBe(
      `file(${file}:r)`,
    );
    expect(await source({ env: docker })).toBe("docker-config:auths");
  });

  it.each([
    [
      "aws ecr get-login-password --region eu-west-1",
      ["aws", "ecr", "get-login-password", "--region", "eu-west-1"],
    ],
    [`sh -c 'a | b'`, ["sh", "-c", "a | b"]],
    [`x "a \\"q\\" b" c\\ d ''`, ["x", 'a "q" b', "c d", ""]],
  ])("splits %j like a shell, without one", (command, words) => {
    expect(splitCommand(command, "t")).toEqual(words);
  });
});

describe("redact", () => {
  it("masks the secret and its base64 and URL-encoded forms", () => {
    registerSecret("p@ss word");
    expect(redact(`a p@ss word b ${Buffer.from("p@ss word").toString("base64")} c p%40ss%20word`)).toBe(
      "a *** b *** c ***",
    );
  });
  it("leaves text alone when no secret is registered", () => {
    expect(redact("nothing to hide")).toBe("nothing to hide");
  });
});
